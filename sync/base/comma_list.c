/*
 * Reading comma-separated lists element by element (comma_list.h).
 */
#include "base/comma_list.h"

#include <string.h>

bool cps_comma_list_next(const char **cursor, const char **elem, size_t *len)
{
	const char *list = *cursor, *comma;
	size_t n;

	if (!list || !*list)
		return false;
	comma = strchr(list, ',');
	n = comma ? (size_t)(comma - list) : strlen(list);
	while (n && *list == ' ')
		list++, n--;
	while (n && list[n - 1] == ' ')
		n--;
	*elem = list;
	*len = n;
	*cursor = comma ? comma + 1 : NULL;
	return true;
}

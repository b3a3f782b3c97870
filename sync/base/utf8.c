/*
 * Strict UTF-8 validation (see utf8.h): one definition for the model's
 * JSON-form check and the postgres connector's text values.
 */
#include "base/utf8.h"

bool cps_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t u = s[i];
		uint32_t cp;
		size_t n;

		if (u < 0x80) {
			i++;
			continue;
		}
		if (u >= 0xC2 && u <= 0xDF)
			n = 2, cp = u & 0x1F;
		else if (u >= 0xE0 && u <= 0xEF)
			n = 3, cp = u & 0x0F;
		else if (u >= 0xF0 && u <= 0xF4)
			n = 4, cp = u & 0x07;
		else
			return false;
		if (n > len - i)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000))
			return false;
		i += n;
	}
	return true;
}

/*
 * ${ENV_VAR} and ${ENV_VAR:-default} in configuration scalars: the text is
 * substituted while the YAML tree is built, so validation sees the final
 * values; "$$" is a literal '$'. Errors name the key, never the value.
 */
#include "config/config_int.h"

#include "base/common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool env_name_char(char c, bool first)
{
	return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

int cps_config_env_substitute(const char *s, size_t len, const char *label, int line,
                              const char *where, struct cps_buf *b, char *errstr,
                              size_t errstr_size)
{
	size_t i = 0;

	while (i < len) {
		if (s[i] != '$' || i + 1 >= len || (s[i + 1] != '{' && s[i + 1] != '$')) {
			if (cps_buf_append_byte(b, (uint8_t)s[i]) < 0)
				goto out_of_memory;
			i++;
			continue;
		}
		if (s[i + 1] == '$') { /* "$$" is a literal '$' */
			if (cps_buf_append_byte(b, '$') < 0)
				goto out_of_memory;
			i += 2;
			continue;
		}
		size_t name = i + 2, j = name;
		while (j < len && env_name_char(s[j], j == name))
			j++;
		if (j == name || j >= len || (s[j] != '}' && s[j] != ':'))
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "%s:%d: key '%s': malformed ${...} reference (expected ${NAME} or ${NAME:-default})",
			    label, line, where);
		char var[256];
		size_t nlen = j - name;
		if (nlen >= sizeof(var))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "%s:%d: key '%s': environment variable name too long",
			                  label, line, where);
		memcpy(var, s + name, nlen);
		var[nlen] = 0;
		const char *val = getenv(var);
		if (s[j] == ':') {
			if (j + 1 >= len || s[j + 1] != '-')
				return cps_seterr(
				    CPS_ERR_INVALID, errstr, errstr_size,
				    "%s:%d: key '%s': malformed ${...} reference (expected ${NAME:-default})",
				    label, line, where);
			size_t def = j + 2, end = def;
			while (end < len && s[end] != '}')
				end++;
			if (end >= len)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "%s:%d: key '%s': unterminated ${...} reference",
				                  label, line, where);
			if (val && *val) {
				if (cps_buf_append(b, val, strlen(val)) < 0)
					goto out_of_memory;
			} else if (cps_buf_append(b, s + def, end - def) < 0) {
				goto out_of_memory;
			}
			i = end + 1;
			continue;
		}
		if (!val)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "%s:%d: key '%s': environment variable '%s' is not set",
			                  label, line, where, var);
		if (cps_buf_append(b, val, strlen(val)) < 0)
			goto out_of_memory;
		i = j + 1;
	}
	return CPS_OK;
out_of_memory:
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s:%d: key '%s': value too large",
	                  label, line, where);
}

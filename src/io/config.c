// Run presets: a parser for `key = value` lines with '#' comments, blank
// lines, trimmed whitespace and optionally "quoted" values.
#include "io/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>  // ssize_t

#include "core/common.h"

#define TS_KV_MAX_LINE 4096

static const char * const kv_hint = "preset lines look like: key = value   (or key = \"quoted value\"; '#' starts a comment)";

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static int is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

// Parses one line in place. Returns 1 for a key/value (key, value point into
// line), 0 for a blank or comment line, -1 when malformed (*why set).
static int kv_line(char * line, char ** key, char ** value, const char ** why) {
    char * s = line;
    while (is_space(*s)) s++;
    if (*s == '\0' || *s == '#') return 0;
    char * k = s;
    while (is_key_char(*s)) s++;
    char * kend = s;
    if (kend == k) {
        *why = "expected a key (letters, digits, '_', '-', '.')";
        return -1;
    }
    while (is_space(*s)) s++;
    if (*s != '=') {
        *why = "expected '=' after the key";
        return -1;
    }
    *kend = '\0';
    s++;
    while (is_space(*s)) s++;
    char * v = s;
    if (*s == '"') {  // quoted: \" and \\ are escapes
        char * o = ++s;
        v = o;
        for (;;) {
            if (*s == '\0') {
                *why = "unterminated quoted value";
                return -1;
            }
            if (*s == '"') break;
            if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) s++;
            *o++ = *s++;
        }
        s++;  // closing quote
        *o = '\0';
        while (is_space(*s)) s++;
        if (*s != '\0' && *s != '#') {
            *why = "unexpected text after the closing quote";
            return -1;
        }
    } else {  // unquoted: ends at a '#' that follows whitespace (or at the end)
        char * e = s;
        while (*e && !(*e == '#' && (e == v || is_space(e[-1])))) e++;
        while (e > v && is_space(e[-1])) e--;
        *e = '\0';
    }
    *key = k;
    *value = v;
    return 1;
}

enum ts_status ts_kv_parse_file(const char * path, ts_kv_fn cb, void * ud) {
    TS_ASSERT(path && cb);
    FILE * f = NULL;
    TS_TRY(ts_text_open(path, "config file", "check the --config path", &f));
    char line[TS_KV_MAX_LINE];
    size_t len = 0;
    int lineno = 0, r;
    enum ts_status st = TS_OK;
    while (st == TS_OK && (r = ts_text_line(f, line, sizeof line, &len)) != 0) {
        lineno++;
        char *key, *value;
        const char * why = r == -2 ? "NUL byte in line (is this a text file?)" : "line longer than 4095 bytes";
        char * text = line;
        if (lineno == 1 && !strncmp(text, "\xEF\xBB\xBF", 3)) text += 3;  // a UTF-8 byte order mark (some editors)
        if (r > 0) r = kv_line(text, &key, &value, &why);
        if (r < 0) st = ts_error(TS_ERR_FORMAT, kv_hint, "%s:%d: %s", path, lineno, why);
        else if (r > 0) st = cb(ud, key, value, path, lineno);
    }
    if (st == TS_OK && ferror(f)) st = ts_error(TS_ERR_IO, "check the file", "cannot read config file '%s'", path);
    fclose(f);
    return st;
}

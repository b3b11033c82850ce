// Tests of src/io/config.c: key = value presets with comments, blank lines,
// trimmed whitespace and quoted values; malformed lines name file:line.
// usage: test_io_config TMP_DIR
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/config.h"
#include "ts_test.h"

struct kv_seen {
    int n;
    char key[16][64];
    char value[16][256];
    int line[16];
};

static enum ts_status collect(void * ud, const char * key, const char * value, const char * file, int line) {
    struct kv_seen * s = ud;
    if (s->n == 16) return ts_error(TS_ERR_ARG, NULL, "too many keys");
    snprintf(s->key[s->n], sizeof s->key[0], "%s", key);
    snprintf(s->value[s->n], sizeof s->value[0], "%s", value);
    s->line[s->n] = line;
    s->n++;
    if (strcmp(key, "stop") == 0) return ts_error(TS_ERR_ARG, "hint", "%s:%d: unknown key '%s'", file, line, key);
    return TS_OK;
}

static char dir[1024];

static const char * write_cfg(const char * name, const char * text) {
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ts_test_write_file(p, text, strlen(text));
    return p;
}

int main(int argc, char ** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s TMP_DIR\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    mkdir(dir, 0755);

    struct kv_seen s = {0};
    const char * good = "# a preset\n"
                        "\n"
                        "frames = 32\n"
                        "  steps=20   \n"
                        "\tcfg\t=\t5.5\t# guidance\n"
                        "prompt = \"a red circle # not a comment\"\n"
                        "storyboard = \"say \\\"hi\\\" \\\\ bye\"   # trailing comment\n"
                        "out = out#1.mp4\n"
                        "empty =\n"
                        "quoted-empty = \"\"\n"
                        "codec = libx264\r\n"
                        "last = no newline";
    CHECK_OK(ts_kv_parse_file(write_cfg("good.conf", good), collect, &s), "parse a good preset");
    VERDICT(s.n == 10, "10 keys (%d)", s.n);
    const char * want[10][2] = {{"frames", "32"},
                                {"steps", "20"},
                                {"cfg", "5.5"},
                                {"prompt", "a red circle # not a comment"},
                                {"storyboard", "say \"hi\" \\ bye"},
                                {"out", "out#1.mp4"},
                                {"empty", ""},
                                {"quoted-empty", ""},
                                {"codec", "libx264"},
                                {"last", "no newline"}};
    for (int i = 0; i < 10 && i < s.n; i++)
        VERDICT(strcmp(s.key[i], want[i][0]) == 0 && strcmp(s.value[i], want[i][1]) == 0, "%s = [%s]", s.key[i], s.value[i]);
    VERDICT(s.n >= 3 && s.line[0] == 3 && s.line[2] == 5, "line numbers passed to the callback");

    char needle[1300];
    const char * p = write_cfg("noeq.conf", "frames = 3\nsteps 20\n");
    snprintf(needle, sizeof needle, "%s:2:", p);
    CHECK_ERR(ts_kv_parse_file(p, collect, &s), TS_ERR_FORMAT, needle, "line without '=' names file:2");
    p = write_cfg("nokey.conf", "# x\n= 5\n");
    snprintf(needle, sizeof needle, "%s:2:", p);
    CHECK_ERR(ts_kv_parse_file(p, collect, &s), TS_ERR_FORMAT, needle, "line without a key");
    p = write_cfg("quote.conf", "\n\nprompt = \"unterminated\n");
    snprintf(needle, sizeof needle, "%s:3: unterminated", p);
    CHECK_ERR(ts_kv_parse_file(p, collect, &s), TS_ERR_FORMAT, needle, "unterminated quote names file:3");
    p = write_cfg("after.conf", "prompt = \"a\" b\n");
    CHECK_ERR(ts_kv_parse_file(p, collect, &s), TS_ERR_FORMAT, ":1: unexpected text", "text after the closing quote");
    p = write_cfg("badkey.conf", "fr@mes = 3\n");
    CHECK_ERR(ts_kv_parse_file(p, collect, &s), TS_ERR_FORMAT, ":1:", "bad character in key");
    const char nul[] = "a = 1\nb = x\0y\n";
    snprintf(needle, sizeof needle, "%s/nul.conf", dir);
    ts_test_write_file(needle, nul, sizeof nul - 1);
    CHECK_ERR(ts_kv_parse_file(needle, collect, &s), TS_ERR_FORMAT, ":2: NUL", "NUL byte in a line");

    s.n = 0;
    CHECK_OK(ts_kv_parse_file(write_cfg("bom.conf", "\xEF\xBB\xBF" "frames = 7\nx = 1\n"), collect, &s),
             "a byte order mark before the first line");
    VERDICT(s.n == 2 && strcmp(s.key[0], "frames") == 0 && strcmp(s.value[0], "7") == 0, "BOM skipped: frames = 7");
    s.n = 0;
    p = write_cfg("bom2.conf", "a = 1\n\xEF\xBB\xBF" "b = 2\n");
    CHECK_ERR(ts_kv_parse_file(p, collect, &s), TS_ERR_FORMAT, ":2:", "a byte order mark on a later line is an error");
    s.n = 0;
    p = write_cfg("stop.conf", "a = 1\nstop = now\nb = 2\n");
    CHECK_ERR(ts_kv_parse_file(p, collect, &s), TS_ERR_ARG, "unknown key 'stop'", "callback error stops parsing");
    VERDICT(s.n == 2, "no key after the callback's error (%d)", s.n);
    s.n = 0;
    CHECK_OK(ts_kv_parse_file(write_cfg("empty.conf", ""), collect, &s), "empty file");
    VERDICT(s.n == 0, "no keys in an empty file");
    snprintf(needle, sizeof needle, "%s/missing.conf", dir);
    CHECK_ERR(ts_kv_parse_file(needle, collect, &s), TS_ERR_IO, "missing.conf", "missing file");
    return ts_test_finish("test_io_config");
}

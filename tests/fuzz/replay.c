// Replays a fuzz target's corpus without libFuzzer: calls the target's
// LLVMFuzzerTestOneInput once on every file of the directories (or files)
// given, in name order, and prints one line: "NAME: N inputs replayed".
// Built in the normal build so CI (gcc, and the sanitizer build) replays the
// committed corpus on every run.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int * argc, char *** argv);

static int run_file(const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open '%s'\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t * buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "replay: cannot read '%s'\n", path);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

static int cmp(const void * a, const void * b) { return strcmp(*(char * const *)a, *(char * const *)b); }

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int n_run = 0, bad = 0;
    for (int a = 1; a < argc; a++) {
        struct stat sb;
        if (stat(argv[a], &sb) != 0) {
            fprintf(stderr, "replay: '%s' does not exist\n", argv[a]);
            return 2;
        }
        if (!S_ISDIR(sb.st_mode)) {
            bad |= run_file(argv[a]);
            n_run++;
            continue;
        }
        DIR * d = opendir(argv[a]);
        char ** names = NULL;
        int n = 0;
        for (struct dirent * e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            names = realloc(names, (size_t)(n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
        if (d) closedir(d);
        if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp);
        for (int i = 0; i < n; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], names[i]);
            bad |= run_file(p);
            n_run++;
            free(names[i]);
        }
        free(names);
    }
    const char * slash = strrchr(argv[0], '/');
    printf("%s: %d inputs replayed\n", slash ? slash + 1 : argv[0], n_run);
    if (n_run == 0) {
        fprintf(stderr, "replay: no inputs (is the corpus committed?)\n");
        return 1;
    }
    return bad;
}

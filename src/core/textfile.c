// Bounded reading of the project's own text files (presets, storyboards) and
// the machine's available memory, so that no input a user gives can make the
// engine read or allocate without bound.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"

enum ts_status ts_text_open(const char * path, const char * what, const char * hint, FILE ** out) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ts_error(TS_ERR_IO, hint, "cannot open %s '%s': %s", what, path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return ts_error(TS_ERR_IO, hint, "%s '%s' is not a regular file", what, path);
    if (sb.st_size > TS_TEXT_MAX_BYTES)
        return ts_error(TS_ERR_FORMAT, hint, "%s '%s' is %lld bytes; text files are read up to %d MB", what, path,
                        (long long)sb.st_size, TS_TEXT_MAX_BYTES >> 20);
    FILE * f = fopen(path, "r");
    if (!f) return ts_error(TS_ERR_IO, hint, "cannot open %s '%s': %s", what, path, strerror(errno));
    *out = f;
    return TS_OK;
}

int ts_text_line(FILE * f, char * buf, size_t cap, size_t * len) {
    size_t n = 0;
    int c, bad = 0;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (c == '\0') bad = bad ? bad : -2;
        if (n + 1 < cap) buf[n++] = (char)c;
        else bad = bad ? bad : -1;  // keep reading to the end of the line
    }
    if (c == EOF && n == 0 && !bad) return 0;
    while (n && buf[n - 1] == '\r') n--;
    buf[n] = '\0';
    *len = n;
    return bad ? bad : 1;
}

// The directory of `path` (into dir, cap bytes).
static void path_dir(const char * path, char * dir, size_t cap) {
    const char * slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

// 1 when a and b name the same file: the same inode where a exists, else the
// same directory (by inode) and the same last component.
int ts_same_file(const char * a, const char * b) {
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char da[4096], db[4096];
    path_dir(a, da, sizeof da);
    path_dir(b, db, sizeof db);
    const char * na = strrchr(a, '/') ? strrchr(a, '/') + 1 : a, * nb = strrchr(b, '/') ? strrchr(b, '/') + 1 : b;
    return strcmp(na, nb) == 0 && stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int ts_is_dir(const char * path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t ts_mem_available(void) {
    FILE * f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

enum ts_status ts_mem_check(int64_t bytes, int sharers, const char * what, const char * hint) {
    int64_t avail = ts_mem_available();
    if (avail < 0 || sharers < 1) return TS_OK;
    if (bytes <= avail / sharers) return TS_OK;
    return ts_error(TS_ERR_ARG, hint, "%s needs %.1f GiB per rank; this machine has %.1f GiB available%s", what,
                    bytes / 1073741824.0, avail / 1073741824.0 / sharers,
                    sharers > 1 ? " per rank (its ranks share it)" : "");
}

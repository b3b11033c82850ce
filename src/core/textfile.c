// Bounded reading of the project's own text files (presets, storyboards) and
// the machine's available memory, so that no input a user gives can make the
// engine read or allocate without bound.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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

// ---- outputs and inputs -------------------------------------------------------------

// A file under the directory `dir` (links followed, depth and count bounded) that is
// the file `want` (by inode); its path into what. 1 when found.
static int dir_holds(const char * dir, const struct stat * want, int depth, int * budget, char * what, size_t cap) {
    DIR * d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent * e;
    while (!found && (e = readdir(d)) != NULL && --*budget > 0) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p) continue;
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        if (sb.st_dev == want->st_dev && sb.st_ino == want->st_ino) {
            snprintf(what, cap, "%s", p);
            found = 1;
        } else if (S_ISDIR(sb.st_mode) && depth < 8) {
            found = dir_holds(p, want, depth + 1, budget, what, cap);
        }
    }
    closedir(d);
    return found;
}

// 1 when the resolved path `p` is the directory `root` (resolved) or lies below it.
static int path_under(const char * p, const char * root) {
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/') return 1;
    return strncmp(p, root, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

// The name `out` will have once written: its directory resolved (links followed),
// then its last component; 0 when the directory cannot be resolved.
static int resolved_name(const char * out, char * buf, size_t cap) {
    char d[4096], rd[PATH_MAX];
    path_dir(out, d, sizeof d);
    if (!realpath(d, rd)) return 0;
    const char * name = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
    return (size_t)snprintf(buf, cap, "%s/%s", strcmp(rd, "/") ? rd : "", name) < cap;
}

int ts_output_touches(const char * out, const char * in, char * what, size_t cap) {
    if (what && cap) what[0] = '\0';
    if (!out || !in || !out[0] || !in[0]) return 0;
    char tmp[PATH_MAX];
    int has_tmp = (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", out) < sizeof tmp;  // written first, then renamed
    if (ts_same_file(out, in) || (has_tmp && ts_same_file(tmp, in))) return 1;
    if (!ts_is_dir(in)) return 0;
    char root[PATH_MAX], name[PATH_MAX], target[PATH_MAX];
    if (!realpath(in, root)) return 0;
    // written inside the directory (a new file there may be read as the model's next time)
    if (resolved_name(out, name, sizeof name) && path_under(name, root)) return 3;
    if (realpath(out, target) && path_under(target, root)) return 3;  // a link into it
    // a file of the directory reached from outside it: a hard link, or a link the
    // directory holds (a Hugging Face snapshot links its files to ../../blobs/)
    char found[PATH_MAX];
    const char * names[2] = {out, has_tmp ? tmp : NULL};
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        int budget = 100000;
        if (names[i] && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode) &&
            dir_holds(in, &sb, 0, &budget, found, sizeof found)) {
            if (what && cap) snprintf(what, cap, "%s", found);
            return 2;
        }
    }
    return 0;
}

enum ts_status ts_output_check(const char * out, const char * out_flag, const char * in, const char * in_flag) {
    char what[PATH_MAX];
    const char * hint = "write the output to another file, outside the folders the run reads";
    switch (ts_output_touches(out, in, what, sizeof what)) {
    case 1:
        return ts_error(TS_ERR_ARG, "write the output to another file", "%s '%s' is the %s %s: it would be replaced",
                        out_flag, out, in_flag, ts_is_dir(in) ? "directory" : "file");
    case 2:
        return ts_error(TS_ERR_ARG, hint,
                        "%s '%s' is the same file as '%s' of the %s directory '%s': it would be replaced", out_flag,
                        out, what, in_flag, in);
    case 3: {
        struct stat sb;
        if (lstat(out, &sb) == 0)
            return ts_error(TS_ERR_ARG, hint, "%s '%s' is a file of the %s directory '%s': it would be replaced",
                            out_flag, out, in_flag, in);
        return ts_error(TS_ERR_ARG, hint,
                        "%s '%s' lies inside the %s directory '%s': it would be written among the model's files",
                        out_flag, out, in_flag, in);
    }
    default:
        return TS_OK;
    }
}

enum ts_status ts_output_dir_check(const char * path, const char * flag) {
    char dir[4096];
    path_dir(path, dir, sizeof dir);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ts_error(TS_ERR_IO, "name a file in that directory", "cannot write %s '%s': it is a directory", flag,
                        path);
    // The output is written to NAME.tmp and renamed over NAME: a device, FIFO or socket there
    // (--latents /dev/null as root) would be replaced by a regular file.
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return ts_error(TS_ERR_IO, "name a regular file (the output is written beside it and renamed over it)",
                        "cannot write %s '%s': it is not a regular file (a device, FIFO or socket)", flag, path);
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return ts_error(TS_ERR_IO, "name a file in a directory", "cannot write %s '%s': '%s' is not a directory", flag,
                        path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return ts_error(TS_ERR_IO, "check that the output directory exists and is writable",
                        "cannot write %s '%s': directory '%s': %s", flag, path, dir, strerror(errno));
    return TS_OK;
}

int ts_create_errno(const char * path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = fd < 0 ? errno : 0;
    if (fd >= 0) {
        static const char page[4096];
        if (write(fd, page, sizeof page) < 0) e = errno;  // a full disk still creates empty files
        close(fd);
    }
    unlink(path);
    return e;
}

int64_t ts_disk_free(const char * path) {
    char dir[4096];
    path_dir(path, dir, sizeof dir);
    struct statvfs v;
    if (statvfs(dir, &v) != 0) return -1;
    // root may also fill the blocks kept back for it
    return (int64_t)(geteuid() == 0 ? v.f_bfree : v.f_bavail) * (int64_t)v.f_frsize;
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

// Tests of src/io/latents.c under mpirun -np N: write a known tensor from N
// ranks, read it back on N and N-1 ranks, checkpoints replaced atomically, and
// failures that leave no file under the final name and keep an older one; a
// checkpoint with a group (as /sampler) read back on N..1 ranks.
// Leaves DIR/latents.h5, checkpoint.h5, group.h5 (and DIR/expect.txt) for
// check_latents.py (h5py).
// usage: mpirun -np N test_io_latents DIR
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/latents.h"
#include "ts_test_mpi.h"

enum { T = 7, H = 3, W = 4, C = 2, FRAME = H * W * C };

// element (t, y, x, k): exact in float32, different in every position
static float value(int64_t t, int y, int x, int k, float bias) { return (float)(t * 1000 + y * 100 + x * 10 + k) + bias; }

static void fill(float * d, int64_t g0, int64_t n, float bias) {
    for (int64_t t = 0; t < n; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < C; k++) d[((t * H + y) * W + x) * C + k] = value(g0 + t, y, x, k, bias);
}

static int same(const float * d, int64_t g0, int64_t n, float bias) {
    for (int64_t t = 0; t < n; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int k = 0; k < C; k++)
                    if (d[((t * H + y) * W + x) * C + k] != value(g0 + t, y, x, k, bias)) return 0;
    return 1;
}

// contiguous, sizes differ by at most one (as src/parallel does)
static void part(int64_t total, int ranks, int r, int64_t * g0, int64_t * n) {
    int64_t base = total / ranks, extra = total % ranks;
    *n = base + (r < extra);
    *g0 = r * base + (r < extra ? r : extra);
}

static void meta_init(struct ts_latents_meta * m, int64_t step) {
    memset(m, 0, sizeof *m);
    snprintf(m->prompt, sizeof m->prompt, "a red circle moving left \xe2\x80\x94 caf\xc3\xa9");
    m->seed = 0xDEADBEEFCAFEF00DULL;  // above 2^63: must stay unsigned
    m->steps = 30;
    m->cfg = 5.5;
    m->fps = 12.5;
    for (int i = 0; i < 64; i++) m->model_digest[i] = "0123456789abcdef"[i % 16];
    snprintf(m->version, sizeof m->version, "%s", TS_VERSION);
    m->step = step;
    if (step >= 0) {  // the checkpoint records its sampler; the latents file is as older files were (none)
        snprintf(m->sampler, sizeof m->sampler, "unipc");
        snprintf(m->sampler_config, sizeof m->sampler_config, "unipc (flow_shift 3.25, order 2, bh2)");
        m->shift = 3.25;
        snprintf(m->noise, sizeof m->noise, "seed");
    }
}

static int meta_equal(const struct ts_latents_meta * a, const struct ts_latents_meta * b) {
    return strcmp(a->prompt, b->prompt) == 0 && a->seed == b->seed && a->steps == b->steps && a->cfg == b->cfg &&
           a->fps == b->fps && strcmp(a->model_digest, b->model_digest) == 0 && strcmp(a->version, b->version) == 0 &&
           a->step == b->step && !strcmp(a->sampler, b->sampler) && !strcmp(a->sampler_config, b->sampler_config) &&
           a->shift == b->shift && !strcmp(a->noise, b->noise);
}

// Reads the whole file on comm with its own partition and checks the values.
static int read_check(const char * path, MPI_Comm comm, float bias, struct ts_latents_meta * meta) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int64_t t = 0, g0, n;
    int h = 0, w = 0, c = 0;
    ts_error_clear();
    if (ts_latents_read(path, comm, &t, &h, &w, &c, 0, 0, NULL, NULL) != TS_OK) return 0;
    if (t != T || h != H || w != W || c != C) return 0;
    part(t, size, rank, &g0, &n);
    float * d = calloc((size_t)(n ? n : 1) * FRAME, sizeof(float));
    int ok = ts_latents_read(path, comm, &t, &h, &w, &c, g0, n, d, meta) == TS_OK && same(d, g0, n, bias);
    free(d);
    return ok;
}

// The group the checkpoint test writes: scalars, a string, a vector, two arrays
// (this rank's frames of value(..., 0.75) and value(..., 1.25)).
static double group_vec[5] = {999, 750.5, 500, 250, 0};
static void group_init(struct ts_lat_group * g, float * a0, float * a1) {
    memset(g, 0, sizeof *g);
    g->name = "grp";
    g->num[0].name = "step_index", g->num[0].value = 3, g->num[0].is_int = 1;
    g->num[1].name = "shift", g->num[1].value = 3.25;
    g->n_num = 2;
    g->str[0].name = "sampler";
    snprintf(g->str[0].value, sizeof g->str[0].value, "unipc");
    g->n_str = 1;
    g->vec[0].name = "timesteps", g->vec[0].v = group_vec, g->vec[0].n = 5;
    g->n_vec = 1;
    g->arr[0].name = "a0", g->arr[0].data = a0;
    g->arr[1].name = "a1", g->arr[1].data = a1;
    g->n_arr = 2;
}

// Reads the group on comm with its own partition and checks everything.
static int group_check(const char * path, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int64_t g0, n;
    part(T, size, rank, &g0, &n);
    float *a0 = calloc((size_t)(n ? n : 1) * FRAME, sizeof(float)),
          *a1 = calloc((size_t)(n ? n : 1) * FRAME, sizeof(float));
    double v[5] = {0};
    struct ts_lat_group g;
    group_init(&g, a0, a1);
    g.vec[0].v = v;
    g.num[0].value = g.num[1].value = 0;
    g.str[0].value[0] = '\0';
    int found = 0;
    ts_error_clear();
    int ok = ts_latents_read_group(path, comm, g0, n, &g, &found) == TS_OK && found;
    ok = ok && same(a0, g0, n, 0.75f) && same(a1, g0, n, 1.25f) && g.num[0].value == 3 && g.num[1].value == 3.25 &&
         !strcmp(g.str[0].value, "unipc") && !memcmp(v, group_vec, sizeof v);
    free(a0);
    free(a1);
    return ok;
}

int main(int argc, char ** argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc != 2) {
        if (rank == 0) fprintf(stderr, "usage: mpirun -np N %s DIR\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    char dir[1024], path[1200], ck[1200], old[1200], tmp[1300];
    snprintf(dir, sizeof dir, "%s", argv[1]);
    if (rank == 0) {
        mkdir(dir, 0755);
        snprintf(path, sizeof path, "%s/latents.h5", dir);
        unlink(path);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/latents.h5", dir);
    snprintf(ck, sizeof ck, "%s/checkpoint.h5", dir);
    snprintf(old, sizeof old, "%s/old.h5", dir);
    if (rank != 0) {  // only rank 0 prints verdicts
        if (!freopen("/dev/null", "w", stdout)) return 1;
    }
    printf("latents on %d rank(s)\n", size);

    int64_t g0, n;
    part(T, size, rank, &g0, &n);
    float * mine = calloc((size_t)(n ? n : 1) * FRAME, sizeof(float));
    fill(mine, g0, n, 0.25f);
    struct ts_latents_meta m, got;
    meta_init(&m, -1);

    // write, then read back on every rank count that fits
    ts_error_clear();
    enum ts_status st = ts_latents_write(path, MPI_COMM_WORLD, T, H, W, C, g0, n, mine, &m);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK), "write (%d, %d, %d, %d) from %d rank(s): %s", T, H, W, C, size,
          ts_last_error());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    VERDICT(ts_test_file_exists(path) && !ts_test_file_exists(tmp), "file under its name, no temporary left");
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, read_check(path, MPI_COMM_WORLD, 0.25f, &got)), "read back bit-exact on %d rank(s)", size);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, meta_equal(&got, &m)), "attributes read back (step absent -> -1: %lld)",
          (long long)got.step);
    for (int sub = size - 1; sub >= 1; sub--) {  // a different rank count
        MPI_Comm cm;
        MPI_Comm_split(MPI_COMM_WORLD, rank < sub ? 0 : MPI_UNDEFINED, rank, &cm);
        int ok = 1;
        if (cm != MPI_COMM_NULL) {
            ok = read_check(path, cm, 0.25f, NULL);
            MPI_Comm_free(&cm);
        }
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, ok), "read back bit-exact on %d of %d rank(s)", sub, size);
    }
    {  // frames in the middle, one rank
        int64_t t;
        int h, w, c;
        float f[2 * FRAME];
        int ok = 1;
        if (rank == 0) ok = ts_latents_read(path, MPI_COMM_SELF, &t, &h, &w, &c, 3, 2, f, NULL) == TS_OK && same(f, 3, 2, 0.25f);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, ok), "rank 0 alone reads frames [3, 5)");
    }

    if (size > 1) {  // the last rank owns no frames (and passes NULL) when writing and reading
        char zp[1300];
        snprintf(zp, sizeof zp, "%s/zero_rank.h5", dir);
        int64_t zg0 = 0, zn = 0;
        if (rank < size - 1) part(T, size - 1, rank, &zg0, &zn);
        float * zd = zn ? calloc((size_t)zn * FRAME, sizeof(float)) : NULL;
        if (zd) fill(zd, zg0, zn, 0.25f);
        ts_error_clear();
        st = ts_latents_write(zp, MPI_COMM_WORLD, T, H, W, C, zg0, zn, zd, &m);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK), "write with a rank owning 0 frames: %s", ts_last_error());
        free(zd);
        float * all = rank == 0 ? calloc((size_t)T * FRAME, sizeof(float)) : NULL;
        int64_t t;
        int h, w, c;
        st = ts_latents_read(zp, MPI_COMM_WORLD, &t, &h, &w, &c, 0, rank == 0 ? T : 0, all, NULL);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK && (rank != 0 || same(all, 0, T, 0.25f))),
              "rank 0 reads every frame while the others read none: %s", ts_last_error());
        free(all);
    }

    // checkpoints: `step` attribute, replaced in place
    struct ts_latents_meta mc;
    meta_init(&mc, 7);
    ts_error_clear();
    st = ts_latents_write(ck, MPI_COMM_WORLD, T, H, W, C, g0, n, mine, &mc);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK), "checkpoint at step 7: %s", ts_last_error());
    fill(mine, g0, n, 0.5f);
    mc.step = 8;
    st = ts_latents_write(ck, MPI_COMM_WORLD, T, H, W, C, g0, n, mine, &mc);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK), "checkpoint at step 8 replaces it: %s", ts_last_error());
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, read_check(ck, MPI_COMM_WORLD, 0.5f, &got) && got.step == 8),
          "checkpoint holds step 8's latents (step=%lld)", (long long)got.step);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, meta_equal(&got, &mc)), "its attributes read back (sampler '%s', shift %g)",
            got.sampler, got.shift);

    // a checkpoint with a group beside /latents: written by every rank, read on any count
    {
        char gp[1300];
        snprintf(gp, sizeof gp, "%s/group.h5", dir);
        float *a0 = calloc((size_t)(n ? n : 1) * FRAME, sizeof(float)),
              *a1 = calloc((size_t)(n ? n : 1) * FRAME, sizeof(float));
        fill(a0, g0, n, 0.75f);
        fill(a1, g0, n, 1.25f);
        struct ts_lat_group g;
        group_init(&g, a0, a1);
        ts_error_clear();
        st = ts_latents_write_group(gp, MPI_COMM_WORLD, T, H, W, C, g0, n, mine, &mc, &g);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK), "checkpoint with a group /grp: %s", ts_last_error());
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, read_check(gp, MPI_COMM_WORLD, 0.5f, NULL)), "its /latents read back");
        for (int sub = size; sub >= 1; sub--) {
            MPI_Comm cm;
            MPI_Comm_split(MPI_COMM_WORLD, rank < sub ? 0 : MPI_UNDEFINED, rank, &cm);
            int ok = 1;
            if (cm != MPI_COMM_NULL) {
                ok = group_check(gp, cm);
                MPI_Comm_free(&cm);
            }
            VERDICT(ts_mpi_all(MPI_COMM_WORLD, ok), "group read back bit-exact on %d of %d rank(s): %s", sub, size,
                    ts_last_error());
        }
        struct ts_lat_group none = {.name = "grp"};
        int found = 1;
        st = ts_latents_read_group(ck, MPI_COMM_WORLD, g0, n, &none, &found);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK && !found), "a checkpoint without the group: found 0");
        group_init(&g, a0, a1);
        g.arr[1].name = "a2";
        ts_error_clear();
        st = ts_latents_read_group(gp, MPI_COMM_WORLD, g0, n, &g, &found);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_FORMAT && strstr(ts_last_error(), "/grp/a2")),
                "a missing array -> TS_ERR_FORMAT naming it: %s", ts_last_error());
        group_init(&g, a0, a1);
        g.num[1].name = "nope";
        ts_error_clear();
        st = ts_latents_read_group(gp, MPI_COMM_WORLD, g0, n, &g, &found);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_FORMAT && strstr(ts_last_error(), "'nope'")),
                "a missing attribute -> TS_ERR_FORMAT naming it: %s", ts_last_error());
        group_init(&g, a0, a1);
        g.vec[0].n = 4;
        ts_error_clear();
        st = ts_latents_read_group(gp, MPI_COMM_WORLD, g0, n, &g, &found);
        VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_FORMAT && strstr(ts_last_error(), "/grp/timesteps")),
                "a vector of another length -> TS_ERR_FORMAT: %s", ts_last_error());
        free(a0);
        free(a1);
    }

    // failures: agreed on every rank, nothing under the final name, old file kept
    snprintf(tmp, sizeof tmp, "%s/no/such/dir/x.h5", dir);
    ts_error_clear();
    st = ts_latents_write(tmp, MPI_COMM_WORLD, T, H, W, C, g0, n, mine, &m);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_IO && strstr(ts_last_error(), "no/such/dir")),
          "unwritable directory -> TS_ERR_IO on every rank: %s", ts_last_error());
    VERDICT(!ts_test_file_exists(tmp), "no file written there");

    fill(mine, g0, n, 0.25f);
    st = ts_latents_write(old, MPI_COMM_WORLD, T, H, W, C, g0, n, mine, &m);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_OK), "an older file to keep");
    fill(mine, g0, n, 9.0f);
    snprintf(tmp, sizeof tmp, "%s.tmp", old);
    if (rank == 0) mkdir(tmp, 0755);  // the temporary name cannot be created
    MPI_Barrier(MPI_COMM_WORLD);
    ts_error_clear();
    st = ts_latents_write(old, MPI_COMM_WORLD, T, H, W, C, g0, n, mine, &m);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_IO), "temporary not creatable -> TS_ERR_IO everywhere: %s", ts_last_error());
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) rmdir(tmp);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, read_check(old, MPI_COMM_WORLD, 0.25f, NULL)), "older file untouched");

    ts_error_clear();  // one rank passes a bad range: every rank fails, the file stays
    st = ts_latents_write(old, MPI_COMM_WORLD, T, H, W, C, rank == size - 1 ? g0 + 1 : g0, n, mine, &m);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_ARG), "bad range on the last rank -> TS_ERR_ARG everywhere: %s",
          ts_last_error());
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, read_check(old, MPI_COMM_WORLD, 0.25f, NULL)), "older file untouched");
    VERDICT(!ts_test_file_exists(tmp), "no temporary left");
    ts_error_clear();
    st = ts_latents_write(old, MPI_COMM_WORLD, T, H, W, C, g0, rank == 0 ? n + 1 : n, mine, &m);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_ARG), "frames not summing to T -> TS_ERR_ARG: %s", ts_last_error());

    // reading what is not there
    int64_t t;
    int h, w, c;
    snprintf(tmp, sizeof tmp, "%s/missing.h5", dir);
    ts_error_clear();
    st = ts_latents_read(tmp, MPI_COMM_WORLD, &t, &h, &w, &c, 0, 0, NULL, NULL);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_IO), "missing file -> TS_ERR_IO: %s", ts_last_error());
    snprintf(tmp, sizeof tmp, "%s/not_h5.h5", dir);
    if (rank == 0) ts_test_write_file(tmp, "not hdf5\n", 9);
    MPI_Barrier(MPI_COMM_WORLD);
    ts_error_clear();
    st = ts_latents_read(tmp, MPI_COMM_WORLD, &t, &h, &w, &c, 0, 0, NULL, NULL);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_FORMAT), "not HDF5 -> TS_ERR_FORMAT: %s", ts_last_error());
    ts_error_clear();
    float f1[FRAME];
    st = ts_latents_read(path, MPI_COMM_WORLD, &t, &h, &w, &c, T - 1, rank == 0 ? 2 : 1, f1, NULL);
    VERDICT(ts_mpi_all(MPI_COMM_WORLD, st == TS_ERR_ARG), "frames past the end -> TS_ERR_ARG: %s", ts_last_error());
    ts_error_clear();

    free(mine);
    if (rank == 0) {  // what check_latents.py expects
        snprintf(tmp, sizeof tmp, "%s/expect.txt", dir);
        FILE * f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d %d %d %d\n", T, H, W, C);
            fclose(f);
        }
    }
    int rc = ts_test_mpi_finish(MPI_COMM_WORLD, "test_io_latents");
    MPI_Finalize();
    return rc;
}

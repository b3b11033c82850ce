// The Wan fixtures (tools/wan/make_tiny.py): names and the inputs/outputs file.
#pragma once
#include <stdio.h>

#include "io/safetensors.h"
#include "ts_test.h"

static const char * const wan_configs[] = {"c1_hd16", "c2_hd32", "c3_hd64", "c4_hd24"};
#define WAN_N_CONFIGS 4

// <dir>/<name>.io.safetensors: x (T, h, w, C), timestep (1,), context (L, text_dim), out (T, h, w, C)
struct wan_io {
    ts_st * st;
    const float *x, *context, *out;
    float timestep;
    int T, h, w, C, L, text_dim;
};

static int wan_io_open(struct wan_io * io, const char * dir, const char * name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s.io.safetensors", dir, name);
    if (ts_st_open(p, &io->st) != TS_OK) {
        printf("cannot open %s: %s\n", p, ts_last_error());
        return -1;
    }
    const struct ts_st_tensor *x = ts_st_find(io->st, "x"), *t = ts_st_find(io->st, "timestep"),
                              *c = ts_st_find(io->st, "context"), *o = ts_st_find(io->st, "out");
    if (!x || !t || !c || !o || x->dtype != TS_ST_F32 || x->ndim != 4 || c->ndim != 2) return -1;
    io->x = x->data, io->context = c->data, io->out = o->data, io->timestep = *(const float *)t->data;
    io->T = (int)x->shape[0], io->h = (int)x->shape[1], io->w = (int)x->shape[2], io->C = (int)x->shape[3];
    io->L = (int)c->shape[0], io->text_dim = (int)c->shape[1];
    return 0;
}

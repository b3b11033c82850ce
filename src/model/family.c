// The model families this build knows, and the one that claims a path.
#include "model/family.h"

#include "core/common.h"  // ts_error

// Probe order: specific families first, the default (ST-DiT claims anything) last.
static const struct ts_family * const ts_family_list[] = {&ts_family_wan, &ts_family_stdit};

const struct ts_family * const * ts_families(int * n) {
    *n = (int)(sizeof ts_family_list / sizeof ts_family_list[0]);
    return ts_family_list;
}

const struct ts_family * ts_family_for_path(const char * path) {
    int n = 0;
    const struct ts_family * const * fams = ts_families(&n);
    for (int i = 0; i < n; i++)
        if (fams[i]->probe(path)) return fams[i];
    ts_error(TS_ERR_FORMAT, "see 'timeshard info PATH'", "'%s' is not a model any family of this build reads", path);
    return NULL;
}

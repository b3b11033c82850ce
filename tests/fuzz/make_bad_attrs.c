// Damages a copy of a latents file (tests/fuzz/make_seeds) for the corpus:
//   make_bad_attrs FILE num   the seed attribute becomes 64 values
//   make_bad_attrs FILE str   the prompt attribute becomes 64 strings
// (tests/fuzz/corpus/latents/crash-attr-array-*.h5 were made with it).
#include <hdf5.h>
#include <stdio.h>
int main(int argc, char ** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE num|str\n", argv[0]);
        return 2;
    }
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "latents", H5P_DEFAULT);
    hsize_t n = 64;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    if (argv[2][0] == 'n') {
        H5Adelete(d, "seed");
        unsigned long long v[64] = {7};
        hid_t a = H5Acreate2(d, "seed", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_ULLONG, v);
        H5Aclose(a);
    } else {
        H5Adelete(d, "prompt");
        const char * v[64];
        for (int i = 0; i < 64; i++) v[i] = "a red circle";
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        hid_t a = H5Acreate2(d, "prompt", t, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, v);
        H5Aclose(a);
    }
    H5Sclose(sp), H5Dclose(d), H5Fclose(f);
    return 0;
}

// Leaks on purpose: in the sanitizer build, the meta.lsan test runs this with the
// settings every leak-checked test gets (ts_lsan_tests) and passes only when
// LeakSanitizer reports the leak, so a setting that silently turned it off shows.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    char * volatile p = malloc(4242);
    if (p) p[0] = 1;
    p = NULL;
    printf("lsan_canary: 4242 bytes left behind\n");
    return 0;
}

// Fuzz target: the prompt weight syntax (`word::1.5`, `(several words)::0.7`)
// through ts_prompt_parse, with room for few words and for many.
#include "fuzz.h"
#include "model/prompt.h"  // ts_prompt_parse

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char * text = fuzz_cstr(data, size);
    static struct ts_prompt_word words[256];
    int n = -1;
    if (ts_prompt_parse(text, words, 256, &n) == TS_OK) {
        if (n < 0 || n > 256) abort();
        for (int i = 0; i < n; i++)
            if (strlen(words[i].word) >= sizeof words[i].word || !(words[i].weight >= 0)) abort();
    }
    (void)ts_prompt_parse(text, words, 3, &n);
    free(text);
    return 0;
}

// Run presets: text files of `key = value` lines ('#' comments), keys being the
// long flag names of `timeshard generate`.
#pragma once
#include "timeshard/timeshard.h"

// Calls cb for each key/value in order; cb returns TS_OK or an error status,
// which stops parsing. Malformed lines are errors naming file and line.
typedef enum ts_status (*ts_kv_fn)(void * ud, const char * key, const char * value, const char * file, int line);
enum ts_status ts_kv_parse_file(const char * path, ts_kv_fn cb, void * ud);

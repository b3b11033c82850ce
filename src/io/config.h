// Run presets: text files of `key = value` lines ('#' comments), keys being the
// long flag names of `timeshard generate`.
#pragma once
#include "timeshard/timeshard.h"

// (ts_kv_fn and ts_kv_parse_file are public: timeshard.h)

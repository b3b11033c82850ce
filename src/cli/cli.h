// Subcommands of the timeshard command beyond generate.
#pragma once
#include "timeshard/timeshard.h"

int ts_cli_info(const char * path);
int ts_cli_bench(int argc, char ** argv);
int ts_cli_interpolate(int argc, char ** argv);
// prints the last error and hint; returns 1
int ts_cli_fail(void);

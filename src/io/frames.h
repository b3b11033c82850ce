// Decoded frames in HDF5: /frames uint8 (T, H, W, 3) RGB24, one chunk per
// frame, attribute `fps`. The output of `generate --out FILE.h5`: lossless,
// readable with h5py, and written without FFmpeg (builds with TS_FFMPEG=OFF).
// Same contract as the video writer: frames in order, the file appears under
// its name only on commit.
#pragma once
#include <stdint.h>

#include "timeshard/timeshard.h"

typedef struct ts_frames_writer ts_frames_writer;

// 1 when `path` names an HDF5 frames output (ends in ".h5" or ".hdf5").
int ts_frames_path(const char * path);
// Creates the file under ts_video_tmp_path(path) (io/video.h).
enum ts_status ts_frames_writer_open(const char * path, int width, int height, double fps, ts_frames_writer ** out);
enum ts_status ts_frames_writer_add(ts_frames_writer * fw, const uint8_t * rgb);
// commit=1: close and rename to the final name; commit=0: close and delete. Frees and NULLs *fw.
enum ts_status ts_frames_writer_close(ts_frames_writer ** fw, int commit);

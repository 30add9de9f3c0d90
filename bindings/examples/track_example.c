/*
 * track_example: the C API end to end. Three people walk across a 640x480 frame for 30 frames
 * (one detection drops out for two frames); the tracker keeps one ID per person.
 * Build: see bindings/CMakeLists.txt (target track_example). Exit status 0 when the IDs hold.
 */
#include <stdio.h>

#include "mottrack.h"

#define N_OBJECTS 3
#define N_FRAMES 30

int main(void) {
  mottrack_options opts;
  mottrack_tracker* tracker = NULL;
  mottrack_track tracks[16];
  int64_t first_ids[N_OBJECTS] = {0, 0, 0};
  int frame, k, ok = 1;

  printf("mottrack %s\n", mottrack_version());
  mottrack_options_init(&opts);
  if (mottrack_create(&opts, &tracker) != MOTTRACK_OK) {
    fprintf(stderr, "create failed: %s\n", mottrack_last_error());
    return 1;
  }
  for (frame = 1; frame <= N_FRAMES; ++frame) {
    double boxes[N_OBJECTS * 4], scores[N_OBJECTS];
    int64_t n = 0, n_tracks = 0, count = 0, i;
    for (k = 0; k < N_OBJECTS; ++k) {
      const double x = 50.0 + 150.0 * k + 4.0 * frame, y = 100.0 + 60.0 * k + 1.0 * frame;
      if (k == 1 && (frame == 12 || frame == 13)) continue; /* a missed detection */
      boxes[4 * n + 0] = x;
      boxes[4 * n + 1] = y;
      boxes[4 * n + 2] = x + 40.0;
      boxes[4 * n + 3] = y + 100.0;
      scores[n] = 0.9;
      ++n;
    }
    if (mottrack_update(tracker, boxes, scores, n, NULL, 0, NULL, &n_tracks) != MOTTRACK_OK) {
      fprintf(stderr, "update failed: %s\n", mottrack_last_error());
      mottrack_destroy(tracker);
      return 1;
    }
    if (mottrack_get_tracks(tracker, tracks, 16, &count) != MOTTRACK_OK) {
      fprintf(stderr, "get_tracks failed: %s\n", mottrack_last_error());
      mottrack_destroy(tracker);
      return 1;
    }
    if (frame % 10 == 0 || frame == 1) {
      printf("frame %2d:", frame);
      for (i = 0; i < count; ++i)
        printf("  id=%lld [%.1f %.1f %.1f %.1f]", (long long)tracks[i].track_id, tracks[i].xyxy[0],
               tracks[i].xyxy[1], tracks[i].xyxy[2], tracks[i].xyxy[3]);
      printf("\n");
    }
    if (frame == 1) {
      if (count != N_OBJECTS) ok = 0;
      for (i = 0; i < count && i < N_OBJECTS; ++i) first_ids[i] = tracks[i].track_id;
    } else if (frame == N_FRAMES) {
      if (count != N_OBJECTS) ok = 0;
      for (i = 0; i < count && i < N_OBJECTS; ++i)
        if (tracks[i].track_id != first_ids[i]) ok = 0;
    }
  }
  mottrack_destroy(tracker);
  printf(ok ? "IDs held for %d frames\n" : "ID mismatch after %d frames\n", N_FRAMES);
  return ok ? 0 : 1;
}

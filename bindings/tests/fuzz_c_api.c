/*
 * fuzz_c_api: random garbage through the C API. Random bytes as options, boxes, scores, embeddings
 * and classes (NaN, inf, denormals, huge values), random counts (negative too) and NULL pointers,
 * mixed with plausible crowded frames that force the assignment solver through its conflict paths,
 * and camera warps (plausible, garbage, NULL) between frames. Every call must return a known status,
 * every failure must carry a message, and every success must yield finite boxes and unique IDs.
 * Usage: fuzz_c_api [iterations] [seed].
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mottrack.h"

static unsigned long long rng_state = 88172645463325252ULL;

static unsigned long long next_u64(void) { /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
static double uniform(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }
static int chance(double p) { return uniform() < p; }

static double garbage_double(void) {
  switch (next_u64() % 8) {
    case 0: return NAN;
    case 1: return (next_u64() & 1) ? INFINITY : -INFINITY;
    case 2: { unsigned long long bits = next_u64(); double d; memcpy(&d, &bits, sizeof d); return d; }
    case 3: return 1e300 * (uniform() - 0.5);
    case 4: return 4.9e-324 * (double)(next_u64() % 4);
    default: return 2000.0 * uniform() - 200.0;
  }
}

static int failures = 0;

static void check_status(mottrack_status s, const char* what) {
  if ((int)s < 0 || (int)s > (int)MOTTRACK_ERROR_INTERNAL) {
    fprintf(stderr, "%s: unknown status %d\n", what, (int)s);
    ++failures;
  } else if (s != MOTTRACK_OK && mottrack_last_error()[0] == '\0') {
    fprintf(stderr, "%s: %s without a message\n", what, mottrack_status_name(s));
    ++failures;
  } else if (s == MOTTRACK_ERROR_INTERNAL) {
    fprintf(stderr, "%s: internal error: %s\n", what, mottrack_last_error());
    ++failures;
  }
}

/* Reads the latest tracks back; finite boxes are required unless absurd inputs were fed (1e300
 * coordinates may overflow the Kalman state, as they do in the Python core). */
static void check_tracks(mottrack_tracker* t, int require_finite) {
  mottrack_track tr[512];
  int64_t count = 0, i, j;
  mottrack_status s = mottrack_get_tracks(t, tr, 512, &count);
  if (s == MOTTRACK_ERROR_BUFFER_TOO_SMALL) return;
  check_status(s, "get_tracks");
  for (i = 0; i < count; ++i) {
    for (j = 0; j < 4; ++j)
      if (require_finite && !isfinite(tr[i].xyxy[j])) {
        fprintf(stderr, "track %lld: non-finite box\n", (long long)tr[i].track_id);
        ++failures;
      }
    if (tr[i].track_id < 1) { fprintf(stderr, "bad track id\n"); ++failures; }
    for (j = 0; j < i; ++j)
      if (tr[j].track_id == tr[i].track_id) { fprintf(stderr, "duplicate track id\n"); ++failures; }
  }
}

/* A crowded plausible frame: boxes around a few centres so that tracks compete for detections. */
static int64_t plausible_frame(double* boxes, double* scores, float* emb, int64_t dim, int64_t* classes, int64_t cap) {
  int64_t n = (int64_t)(next_u64() % (unsigned long long)cap), i, k;
  for (i = 0; i < n; ++i) {
    const double cx = 100.0 + 60.0 * (double)(next_u64() % 6) + 8.0 * uniform();
    const double cy = 100.0 + 8.0 * uniform();
    const double w = 20.0 + 15.0 * uniform(), h = 50.0 + 30.0 * uniform();
    boxes[4 * i] = cx - w / 2; boxes[4 * i + 1] = cy - h / 2;
    boxes[4 * i + 2] = cx + w / 2; boxes[4 * i + 3] = cy + h / 2;
    scores[i] = chance(0.2) ? 0.05 + 0.4 * uniform() : 0.5 + 0.5 * uniform();
    classes[i] = (int64_t)(next_u64() % 2);
    for (k = 0; k < dim; ++k) emb[i * dim + k] = (float)(uniform() - 0.3);
  }
  return n;
}

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? atol(argv[1]) : 300;
  long it;
  enum { CAP = 64, DIM = 16 };
  double boxes[CAP * 4], scores[CAP];
  float emb[CAP * DIM];
  int64_t classes[CAP];
  if (argc > 2) rng_state ^= (unsigned long long)atoll(argv[2]) * 0x9E3779B97F4A7C15ULL;

  for (it = 0; it < iterations; ++it) {
    mottrack_options opts;
    mottrack_tracker* t = NULL;
    int frame, fed_garbage = 0;
    mottrack_options_init(&opts);
    if (chance(0.3)) { /* garbage options */
      double* fields[] = {&opts.det_thresh, &opts.low_score_thresh, &opts.iou_thresh, &opts.fusion_weight,
                          &opts.gating_threshold, &opts.frame_rate, &opts.min_box_area, &opts.max_aspect_ratio,
                          &opts.std_weight_position, &opts.template_momentum};
      int f;
      for (f = 0; f < 3; ++f) *fields[next_u64() % 10] = garbage_double();
      opts.track_buffer = (int64_t)(next_u64() % 200) - 50;
      opts.gating = (int32_t)(next_u64() % 3);
      opts.min_hits = (int64_t)(next_u64() % 8) - 2;
      opts.score_window = chance(0.5) ? (int64_t)(next_u64() % 80) - 10 : (int64_t)next_u64();
      opts.use_det_quantile = (int32_t)(next_u64() % 3);
      opts.det_quantile = chance(0.5) ? garbage_double() : uniform();
      opts.low_score_quantile = chance(0.5) ? garbage_double() : uniform() * 0.2;
      opts.crowd_drop = chance(0.5) ? garbage_double() : uniform() * 0.3;
      opts.crowd_low = chance(0.3) ? garbage_double() : 10.0 * uniform();
      opts.crowd_high = chance(0.3) ? garbage_double() : opts.crowd_low + 10.0 * uniform();
      opts.crowd_frames = chance(0.5) ? (int64_t)(next_u64() % 40) - 5 : (int64_t)next_u64();
      if (chance(0.1)) opts.struct_size = (uint32_t)next_u64();
    } else if (chance(0.5)) {
      opts.det_thresh = 0.5;
      opts.low_score_thresh = 0.1;
      opts.iou_thresh = uniform();
      opts.motion_thresh = uniform();
      opts.tentative_iou_thresh = uniform();
      opts.embedding_thresh = uniform();
      opts.gating = chance(0.8);
      opts.track_buffer = (int64_t)(next_u64() % 5);
      opts.min_hits = 2 + (int64_t)(next_u64() % 4);
      opts.score_window = 1 + (int64_t)(next_u64() % 100);
      opts.use_det_quantile = chance(0.7);
      opts.det_quantile = uniform();
      opts.low_score_quantile = opts.det_quantile * uniform();
      if (!opts.use_det_quantile && chance(0.5)) { /* the crowd drop (fixed thresholds only) */
        opts.crowd_drop = 0.4 * uniform();
        opts.crowd_low = 3.0 * uniform();
        opts.crowd_high = opts.crowd_low + 0.01 + 10.0 * uniform();
        opts.crowd_frames = 1 + (int64_t)(next_u64() % 40);
      }
    }
    check_status(mottrack_create(&opts, &t), "create");
    if (t == NULL) continue;
    for (frame = 0; frame < 25; ++frame) {
      const int64_t dim = chance(0.5) ? DIM : 0;
      int64_t n, i, n_tracks = 0;
      const double* bp = boxes;
      const double* sp = scores;
      const float* ep = dim ? emb : NULL;
      const int64_t* cp = classes;
      if (chance(0.5)) {
        n = plausible_frame(boxes, scores, emb, DIM, classes, CAP);
      } else {
        n = (int64_t)(next_u64() % (CAP + 8)) - 8; /* negative counts too */
        if (n > CAP) n = CAP;
        for (i = 0; i < CAP * 4; ++i) boxes[i] = garbage_double();
        for (i = 0; i < CAP; ++i) { scores[i] = garbage_double(); classes[i] = (int64_t)next_u64(); }
        for (i = 0; i < CAP * DIM; ++i) emb[i] = (float)garbage_double();
        if (chance(0.1)) bp = NULL;
        if (chance(0.1)) sp = NULL;
        if (chance(0.2)) cp = NULL;
        fed_garbage = 1;
      }
      if (chance(0.3)) { /* a camera warp: plausible, garbage, or NULL */
        double warp[6] = {1, 0, 0, 0, 1, 0};
        const double theta = 0.1 * (uniform() - 0.5), s = 0.8 + 0.4 * uniform();
        if (chance(0.7)) {
          warp[0] = warp[4] = s * cos(theta);
          warp[1] = -s * sin(theta);
          warp[3] = s * sin(theta);
          warp[2] = 20 * (uniform() - 0.5);
          warp[5] = 20 * (uniform() - 0.5);
        } else {
          for (i = 0; i < 6; ++i) warp[i] = garbage_double();
          fed_garbage = 1;
        }
        check_status(mottrack_apply_camera_motion(t, chance(0.05) ? NULL : warp), "apply_camera_motion");
      }
      check_status(mottrack_update(t, bp, sp, n, ep, chance(0.05) ? -(int64_t)DIM : dim, cp, &n_tracks),
                   "update");
      check_tracks(t, !fed_garbage);
      if (chance(0.03)) {
        check_status(mottrack_reset(t), "reset");
        fed_garbage = 0;
      }
    }
    mottrack_destroy(t);
  }
  if (failures) fprintf(stderr, "fuzz_c_api: %d failure(s)\n", failures);
  else printf("fuzz_c_api: %ld trackers x 25 frames, no failure\n", iterations);
  return failures ? 1 : 0;
}

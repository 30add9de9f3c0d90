/*
 * test_c_api: the C API's contract. Bad input (NULL pointers, negative counts, NaN/inf, empty boxes,
 * bad or infinite options, values whose arithmetic overflows, out-of-range reads, bad camera warps)
 * gives an error code
 * and a message naming the argument, never a crash, and leaves the tracker unchanged; good input
 * tracks, hostile frames included. Exit status = number of failures.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mottrack.h"

static int failures = 0;

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                      \
    }                                                                  \
  } while (0)

/* The call failed with `status` and a message mentioning `word`. */
#define CHECK_ERROR(call, status, word)                                                         \
  do {                                                                                          \
    mottrack_status s_ = (call);                                                                \
    if (s_ != (status) || strstr(mottrack_last_error(), (word)) == NULL) {                      \
      fprintf(stderr, "%s:%d: %s -> %s '%s' (expected %s mentioning '%s')\n", __FILE__, __LINE__, \
              #call, mottrack_status_name(s_), mottrack_last_error(), #status, (word));          \
      ++failures;                                                                               \
    }                                                                                           \
  } while (0)

static mottrack_tracker* make_tracker(void) {
  mottrack_options o;
  mottrack_tracker* t = NULL;
  mottrack_options_init(&o);
  if (mottrack_create(&o, &t) != MOTTRACK_OK) {
    fprintf(stderr, "create failed: %s\n", mottrack_last_error());
    ++failures;
  }
  return t;
}

static void test_version_and_names(void) {
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", MOTTRACK_VERSION_MAJOR, MOTTRACK_VERSION_MINOR,
           MOTTRACK_VERSION_PATCH);
  CHECK(strcmp(mottrack_version(), expected) == 0);
  CHECK(strcmp(mottrack_status_name(MOTTRACK_OK), "MOTTRACK_OK") == 0);
  CHECK(mottrack_status_name((mottrack_status)12345) != NULL);
  CHECK(mottrack_last_error() != NULL);
}

/* mottrack_options_init = TrackerOptions() (the pytest test_options_parity.py compares all fields). */
static void test_defaults(void) {
  mottrack_options o;
  CHECK(mottrack_options_init(&o) == MOTTRACK_OK);
  CHECK(o.struct_size == sizeof(mottrack_options));
  CHECK(o.det_thresh == 0.5 && o.use_low_score_thresh == 1 && o.low_score_thresh == 0.1);
  CHECK(o.gating == 0 && o.min_hits == 4 && o.use_det_quantile == 1 && o.det_quantile == 0.15);
  CHECK(o.low_score_quantile == 0.0 && o.score_window == 2048 && o.track_buffer == 30);
  CHECK(o.crowd_drop == 0.0 && o.crowd_low == 5.0 && o.crowd_high == 20.0 && o.crowd_frames == 30);
  CHECK(o.max_detections == 1000);
}

static void test_bad_options(void) {
  mottrack_options o;
  mottrack_tracker* t = (mottrack_tracker*)&o; /* must be reset to NULL on failure */
  CHECK_ERROR(mottrack_options_init(NULL), MOTTRACK_ERROR_NULL_POINTER, "options");
  mottrack_options_init(&o);
  CHECK_ERROR(mottrack_create(NULL, &t), MOTTRACK_ERROR_NULL_POINTER, "options");
  CHECK(t == NULL);
  CHECK_ERROR(mottrack_create(&o, NULL), MOTTRACK_ERROR_NULL_POINTER, "out");
  o.struct_size = 8;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "struct_size");
  mottrack_options_init(&o);
  o.det_thresh = NAN;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "det_thresh");
  mottrack_options_init(&o);
  o.iou_thresh = 1.5;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "iou_thresh");
  mottrack_options_init(&o);
  o.low_score_thresh = 0.9;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "low_score_thresh");
  mottrack_options_init(&o);
  o.track_buffer = -1;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "track_buffer");
  mottrack_options_init(&o);
  o.frame_rate = 0.0;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "frame_rate");
  o.frame_rate = INFINITY;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "frame_rate");
  mottrack_options_init(&o);
  o.gating_threshold = -1.0;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "gating_threshold");
  mottrack_options_init(&o);
  o.gating = -5; /* the flags are 0 or 1, not "any non-zero" */
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "options.gating: expected 0 or 1, got -5");
  mottrack_options_init(&o);
  o.use_det_quantile = 2;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "use_det_quantile");
  /* +-inf is refused for every number, as TrackerOptions refuses it (std_weight_position = inf
   * would make every covariance infinite and silently lose every track) */
  {
    const double bad[] = {INFINITY, -INFINITY, NAN};
    int b;
    for (b = 0; b < 3; ++b) {
#define CHECK_REFUSED(field)                                                             \
  mottrack_options_init(&o);                                                             \
  o.field = bad[b];                                                                      \
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, #field ": expected a finite number"); \
  CHECK(t == NULL)
      CHECK_REFUSED(det_thresh);
      CHECK_REFUSED(low_score_thresh);
      CHECK_REFUSED(gating_threshold);
      CHECK_REFUSED(frame_rate);
      CHECK_REFUSED(min_box_area);
      CHECK_REFUSED(max_aspect_ratio);
      CHECK_REFUSED(std_weight_position);
      CHECK_REFUSED(std_weight_velocity);
      CHECK_REFUSED(embedding_thresh);
      CHECK_REFUSED(fusion_weight);
      CHECK_REFUSED(det_quantile);
      CHECK_REFUSED(low_score_quantile);
      CHECK_REFUSED(crowd_drop);
      CHECK_REFUSED(crowd_low);
      CHECK_REFUSED(crowd_high);
#undef CHECK_REFUSED
    }
  }
  /* the adaptive thresholds and birth hysteresis: the ranges of TrackerOptions */
  mottrack_options_init(&o);
  o.min_hits = 1;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "min_hits: expected an integer in [2, 1000]");
  o.min_hits = 1001;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "min_hits");
  mottrack_options_init(&o);
  o.score_window = 0;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "score_window");
  o.score_window = (1 << 20) + 1;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "score_window");
  mottrack_options_init(&o);
  o.max_detections = 0;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "max_detections");
  o.max_detections = (1 << 20) + 1;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "max_detections");
  mottrack_options_init(&o);
  o.det_quantile = 1.5;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "det_quantile");
  mottrack_options_init(&o);
  o.low_score_quantile = 0.5; /* above det_quantile = 0.15 */
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "low_score_quantile: expected <= det_quantile");
  CHECK(t == NULL);
  o.use_det_quantile = 0; /* fixed thresholds: det_quantile is ignored, low_score_quantile only range-checked */
  o.det_quantile = NAN;
  CHECK(mottrack_create(&o, &t) == MOTTRACK_OK);
  mottrack_destroy(t);
  o.low_score_quantile = -0.5;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "low_score_quantile");
  /* the crowd drop: fixed thresholds only, crowd_high > crowd_low >= 0, crowd_frames in [1, 10000] */
  mottrack_options_init(&o);
  o.crowd_drop = 0.1;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "crowd_drop: expected 0 with det_quantile set");
  o.use_det_quantile = 0;
  CHECK(mottrack_create(&o, &t) == MOTTRACK_OK);
  mottrack_destroy(t);
  o.crowd_drop = -0.1;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "crowd_drop");
  o.crowd_drop = 0.1;
  o.crowd_high = o.crowd_low;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "crowd_high");
  o.crowd_high = 20.0;
  o.crowd_low = -1.0;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "crowd_low");
  o.crowd_low = 5.0;
  o.crowd_frames = 0;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "crowd_frames: expected an integer in [1, 10000]");
  o.crowd_frames = 10001;
  CHECK_ERROR(mottrack_create(&o, &t), MOTTRACK_ERROR_INVALID_OPTIONS, "crowd_frames");
  CHECK(t == NULL);
  mottrack_options_init(&o);
  o.min_hits = 1000;
  o.score_window = 1 << 20;
  o.det_quantile = 1.0;
  o.low_score_quantile = 1.0;
  CHECK(mottrack_create(&o, &t) == MOTTRACK_OK);
  mottrack_destroy(t);
  mottrack_options_init(&o);
  o.use_low_score_thresh = 0;
  o.low_score_thresh = NAN; /* ignored when the rescue is off */
  o.use_max_aspect_ratio = 0;
  CHECK(mottrack_create(&o, &t) == MOTTRACK_OK);
  mottrack_destroy(t);
  mottrack_destroy(NULL);
}

static void test_bad_frames(void) {
  mottrack_tracker* t = make_tracker();
  double boxes[8] = {10, 10, 50, 110, 200, 200, 240, 300};
  double scores[2] = {0.9, 0.8};
  float emb[2 * 3] = {1, 0, 0, 0, 1, 0};
  int64_t n_tracks = -1, frame = -1;
  if (t == NULL) return;
  CHECK_ERROR(mottrack_update(NULL, boxes, scores, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_NULL_POINTER, "tracker");
  CHECK_ERROR(mottrack_update(t, boxes, scores, -1, NULL, 0, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "num_detections");
  CHECK_ERROR(mottrack_update(t, NULL, scores, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_NULL_POINTER, "boxes_xyxy");
  CHECK_ERROR(mottrack_update(t, boxes, NULL, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_NULL_POINTER, "scores");
  {
    mottrack_tracker* empty = make_tracker(); /* no detections: no pointers needed */
    if (empty != NULL) CHECK(mottrack_update(empty, NULL, NULL, 0, NULL, 0, NULL, NULL) == MOTTRACK_OK);
    if (empty != NULL)
      CHECK_ERROR(mottrack_update(empty, NULL, NULL, 0, emb, -4, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
                  "embeddings: expected dimension D");
    mottrack_destroy(empty);
  }
  boxes[5] = NAN;
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "row 1");
  boxes[5] = INFINITY;
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "finite");
  boxes[5] = 200;
  boxes[2] = 5; /* x2 < x1 */
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "positive width");
  boxes[2] = 50;
  scores[1] = NAN;
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT, "scores");
  scores[1] = 0.8;
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, emb, 0, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "embeddings");
  emb[4] = NAN;
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, emb, 3, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "embeddings");
  emb[4] = 0;
  emb[3] = 0; /* row 1 all zeros */
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, emb, 3, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "row 1");
  boxes[6] = 1e300; /* finite, but beyond float32: its arithmetic would overflow */
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "float32 range");
  boxes[6] = 240;
  emb[3] = 3e38f; /* each value fits float32, the sum of squares does not */
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, emb, 3, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "row 1 overflows float32");
  emb[3] = 1e-30f; /* non-zero, but its square rounds to 0 */
  CHECK_ERROR(mottrack_update(t, boxes, scores, 2, emb, 3, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT,
              "row 1 underflows float32");
  emb[3] = 0;
  CHECK(mottrack_frame_id(t, &frame) == MOTTRACK_OK && frame == 0); /* nothing counted */
  emb[4] = 1;
  CHECK(mottrack_update(t, boxes, scores, 2, emb, 3, NULL, &n_tracks) == MOTTRACK_OK);
  CHECK(n_tracks == 2);
  CHECK_ERROR(mottrack_update(t, boxes, scores, 1, emb, 2, NULL, NULL), MOTTRACK_ERROR_INVALID_ARGUMENT, "D=3");
  CHECK(mottrack_update(t, NULL, NULL, 0, NULL, 0, NULL, &n_tracks) == MOTTRACK_OK); /* empty frame */
  CHECK(n_tracks == 0);
  CHECK(mottrack_frame_id(t, &frame) == MOTTRACK_OK && frame == 2);
  mottrack_destroy(t);
}

static void test_reading_tracks(void) {
  mottrack_tracker* t = make_tracker();
  double boxes[8] = {10, 10, 50, 110, 200, 200, 240, 300};
  double scores[2] = {0.9, 0.8};
  mottrack_track buf[2], one;
  int64_t count = -1;
  if (t == NULL) return;
  CHECK(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL) == MOTTRACK_OK);
  CHECK_ERROR(mottrack_track_count(t, NULL), MOTTRACK_ERROR_NULL_POINTER, "count");
  CHECK_ERROR(mottrack_track_count(NULL, &count), MOTTRACK_ERROR_NULL_POINTER, "tracker");
  CHECK(mottrack_track_count(t, &count) == MOTTRACK_OK && count == 2);
  CHECK_ERROR(mottrack_get_track(t, 2, &one), MOTTRACK_ERROR_OUT_OF_RANGE, "index");
  CHECK_ERROR(mottrack_get_track(t, -1, &one), MOTTRACK_ERROR_OUT_OF_RANGE, "index");
  CHECK_ERROR(mottrack_get_track(t, 0, NULL), MOTTRACK_ERROR_NULL_POINTER, "out");
  CHECK(mottrack_get_track(t, 1, &one) == MOTTRACK_OK && one.track_id == 2);
  CHECK(fabs(one.xyxy[0] - 200) < 1e-9 && fabs(one.xyxy[3] - 300) < 1e-9 && one.hits == 1 && one.age == 0);
  CHECK_ERROR(mottrack_get_tracks(t, buf, 1, &count), MOTTRACK_ERROR_BUFFER_TOO_SMALL, "capacity");
  CHECK(count == 2);
  CHECK_ERROR(mottrack_get_tracks(t, NULL, -3, &count), MOTTRACK_ERROR_INVALID_ARGUMENT, "capacity");
  CHECK_ERROR(mottrack_get_tracks(t, NULL, 2, &count), MOTTRACK_ERROR_NULL_POINTER, "tracks");
  CHECK(mottrack_get_tracks(t, buf, 2, &count) == MOTTRACK_OK && count == 2);
  CHECK(buf[0].track_id == 1 && buf[1].track_id == 2);
  CHECK_ERROR(mottrack_reset(NULL), MOTTRACK_ERROR_NULL_POINTER, "tracker");
  CHECK(mottrack_reset(t) == MOTTRACK_OK);
  CHECK(mottrack_track_count(t, &count) == MOTTRACK_OK && count == 0);
  boxes[0] = 500; /* a different scene: IDs restart at 1 */
  boxes[2] = 540;
  CHECK(mottrack_update(t, boxes, scores, 1, NULL, 0, NULL, &count) == MOTTRACK_OK && count == 1);
  CHECK(mottrack_get_track(t, 0, &one) == MOTTRACK_OK && one.track_id == 1);
  mottrack_destroy(t);
}

static void test_classes_and_bounded_memory(void) {
  mottrack_tracker* t = make_tracker();
  double boxes[8] = {100, 100, 140, 200, 100, 100, 140, 200}; /* two classes, same box */
  double scores[2] = {0.9, 0.9};
  int64_t classes[2] = {0, 7};
  int64_t count = 0, live = 0, i;
  mottrack_track tr[4];
  unsigned state = 12345u;
  if (t == NULL) return;
  for (i = 0; i < 5; ++i) {
    boxes[0] += 2; boxes[2] += 2; boxes[4] += 2; boxes[6] += 2;
    CHECK(mottrack_update(t, boxes, scores, 2, NULL, 0, classes, &count) == MOTTRACK_OK);
  }
  CHECK(mottrack_get_tracks(t, tr, 4, &count) == MOTTRACK_OK && count == 2);
  CHECK(count == 2 && tr[0].class_id == 0 && tr[1].class_id == 7 && tr[0].track_id != tr[1].track_id);
  /* 3000 frames of fresh random boxes: removed tracks are not retained */
  for (i = 0; i < 3000; ++i) {
    double b[4 * 8], s[8];
    int k;
    for (k = 0; k < 8; ++k) {
      state = state * 1664525u + 1013904223u;
      b[4 * k + 0] = (state >> 8) % 1800;
      b[4 * k + 1] = (state >> 4) % 900;
      b[4 * k + 2] = b[4 * k + 0] + 30 + (k * 7);
      b[4 * k + 3] = b[4 * k + 1] + 80 + (k * 5);
      s[k] = 0.6;
    }
    CHECK(mottrack_update(t, b, s, 8, NULL, 0, NULL, NULL) == MOTTRACK_OK);
  }
  CHECK(mottrack_live_track_count(t, &live) == MOTTRACK_OK);
  CHECK(live < 8 * 40); /* at most the lost buffer's worth */
  mottrack_destroy(t);
}

/* A new object needs min_hits frames in a row before it is reported (the first frame's at once). */
static void test_min_hits(void) {
  mottrack_options o;
  mottrack_tracker* t = NULL;
  double boxes[8] = {10, 10, 50, 110, 300, 10, 340, 110};
  double scores[2] = {0.9, 0.9};
  int64_t count = 0, k;
  mottrack_options_init(&o);
  o.min_hits = 3;
  if (mottrack_create(&o, &t) != MOTTRACK_OK) { ++failures; return; }
  CHECK(mottrack_update(t, boxes, scores, 1, NULL, 0, NULL, &count) == MOTTRACK_OK && count == 1);
  for (k = 0; k < 3; ++k) {
    boxes[4] += 2; boxes[6] += 2;
    CHECK(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, &count) == MOTTRACK_OK);
    CHECK(count == (k == 2 ? 2 : 1));
  }
  mottrack_destroy(t);
}

/* Camera motion: bad warps are refused (nothing changes); a shift moves the tracks with the camera. */
static void test_camera_motion(void) {
  mottrack_tracker* t = make_tracker();
  mottrack_tracker* control = make_tracker();
  double boxes[8] = {10, 10, 50, 110, 200, 200, 240, 300};
  double scores[2] = {0.9, 0.8};
  const double identity[6] = {1, 0, 0, 0, 1, 0};
  const double shift[6] = {1, 0, 100, 0, 1, 40};
  double bad[6] = {1, 0, NAN, 0, 1, 0};
  mottrack_track a[2], b[2];
  int64_t count = 0, frame = 0, i;
  if (t == NULL || control == NULL) return;
  CHECK_ERROR(mottrack_apply_camera_motion(NULL, identity), MOTTRACK_ERROR_NULL_POINTER, "tracker");
  CHECK_ERROR(mottrack_apply_camera_motion(t, NULL), MOTTRACK_ERROR_NULL_POINTER, "warp");
  CHECK(mottrack_apply_camera_motion(t, shift) == MOTTRACK_OK); /* no tracks yet: nothing to move */
  for (i = 0; i < 3; ++i) {
    CHECK(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL) == MOTTRACK_OK);
    CHECK(mottrack_update(control, boxes, scores, 2, NULL, 0, NULL, NULL) == MOTTRACK_OK);
  }
  CHECK_ERROR(mottrack_apply_camera_motion(t, bad), MOTTRACK_ERROR_INVALID_ARGUMENT, "warp: expected finite");
  bad[2] = INFINITY;
  CHECK_ERROR(mottrack_apply_camera_motion(t, bad), MOTTRACK_ERROR_INVALID_ARGUMENT, "finite");
  bad[2] = 0;
  bad[0] = -1; /* a mirror */
  CHECK_ERROR(mottrack_apply_camera_motion(t, bad), MOTTRACK_ERROR_INVALID_ARGUMENT, "det R > 0");
  bad[0] = bad[4] = 0; /* a collapse */
  CHECK_ERROR(mottrack_apply_camera_motion(t, bad), MOTTRACK_ERROR_INVALID_ARGUMENT, "det R > 0");
  CHECK(mottrack_apply_camera_motion(t, identity) == MOTTRACK_OK);
  CHECK(mottrack_frame_id(t, &frame) == MOTTRACK_OK && frame == 3);
  CHECK(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL) == MOTTRACK_OK);
  CHECK(mottrack_update(control, boxes, scores, 2, NULL, 0, NULL, NULL) == MOTTRACK_OK);
  CHECK(mottrack_get_tracks(t, a, 2, &count) == MOTTRACK_OK && count == 2);
  CHECK(mottrack_get_tracks(control, b, 2, &count) == MOTTRACK_OK && count == 2);
  for (i = 0; i < 2; ++i) CHECK(memcmp(&a[i], &b[i], sizeof a[i]) == 0); /* bit for bit */
  /* the camera moves by (100, 40): the same objects are found there, under the same IDs */
  CHECK(mottrack_apply_camera_motion(t, shift) == MOTTRACK_OK);
  for (i = 0; i < 8; ++i) boxes[i] += i % 2 ? 40 : 100;
  CHECK(mottrack_update(t, boxes, scores, 2, NULL, 0, NULL, NULL) == MOTTRACK_OK);
  CHECK(mottrack_get_tracks(t, a, 2, &count) == MOTTRACK_OK && count == 2);
  CHECK(count == 2 && a[0].track_id == 1 && a[1].track_id == 2 && fabs(a[0].xyxy[0] - 110) < 1e-6);
  mottrack_destroy(t);
  mottrack_destroy(control);
}

/* A frame with more than max_detections boxes keeps the highest scores (equal scores: the earlier
 * rows), in their order; the others never reach the tracker. */
static void test_max_detections(void) {
  mottrack_options o;
  mottrack_tracker* t = NULL;
  const double boxes[16] = {0, 0, 40, 100, 100, 0, 140, 100, 200, 0, 240, 100, 300, 0, 340, 100};
  const double scores[4] = {0.6, 0.9, 0.7, 0.9};
  const double tied[4] = {0.9, 0.9, 0.9, 0.9};
  mottrack_track out[4];
  int64_t count = 0, live = 0;
  mottrack_options_init(&o);
  o.max_detections = 3;
  o.use_det_quantile = 0;
  if (mottrack_create(&o, &t) != MOTTRACK_OK) { ++failures; return; }
  CHECK(mottrack_update(t, boxes, scores, 4, NULL, 0, NULL, &count) == MOTTRACK_OK && count == 3);
  CHECK(mottrack_get_tracks(t, out, 4, &count) == MOTTRACK_OK && count == 3);
  CHECK(out[0].xyxy[0] == 100 && out[1].xyxy[0] == 200 && out[2].xyxy[0] == 300); /* 0.6 dropped */
  CHECK(mottrack_live_track_count(t, &live) == MOTTRACK_OK && live == 3);
  mottrack_reset(t);
  CHECK(mottrack_update(t, boxes, tied, 4, NULL, 0, NULL, &count) == MOTTRACK_OK && count == 3);
  CHECK(mottrack_get_tracks(t, out, 4, &count) == MOTTRACK_OK && count == 3);
  CHECK(out[0].xyxy[0] == 0 && out[1].xyxy[0] == 100 && out[2].xyxy[0] == 200); /* the last row dropped */
  mottrack_destroy(t);
}

/* 6,000 mutually overlapping boxes twice (36 million pairs, each in every other's search window),
 * with max_detections raised to keep them all: both frames complete and every track keeps its own
 * box. With the default max_detections the frame keeps 1,000 of them. */
static void test_hostile_frame(void) {
  enum { N = 6000 };
  static double boxes[4 * N], scores[N];
  mottrack_options o;
  mottrack_tracker* t = NULL;
  mottrack_tracker* bounded = make_tracker();
  int64_t count = 0, frame = 0, i;
  unsigned state = 7u;
  mottrack_options_init(&o);
  o.max_detections = N;
  if (mottrack_create(&o, &t) != MOTTRACK_OK || bounded == NULL) { ++failures; return; }
  for (i = 0; i < N; ++i) {
    state = state * 1664525u + 1013904223u;
    boxes[4 * i] = (state >> 8) % 2000 / 100.0;
    state = state * 1664525u + 1013904223u;
    boxes[4 * i + 1] = (state >> 8) % 2000 / 100.0;
    boxes[4 * i + 2] = boxes[4 * i] + 100;
    boxes[4 * i + 3] = boxes[4 * i + 1] + 100;
    scores[i] = 0.9;
  }
  CHECK(mottrack_update(t, boxes, scores, N, NULL, 0, NULL, &count) == MOTTRACK_OK && count == N);
  CHECK(mottrack_update(t, boxes, scores, N, NULL, 0, NULL, &count) == MOTTRACK_OK && count == N);
  CHECK(mottrack_frame_id(t, &frame) == MOTTRACK_OK && frame == 2);
  CHECK(mottrack_update(bounded, boxes, scores, N, NULL, 0, NULL, &count) == MOTTRACK_OK && count == 1000);
  mottrack_destroy(t);
  mottrack_destroy(bounded);
}

int main(void) {
  test_version_and_names();
  test_defaults();
  test_bad_options();
  test_bad_frames();
  test_reading_tracks();
  test_classes_and_bounded_memory();
  test_min_hits();
  test_camera_motion();
  test_max_detections();
  test_hostile_frame();
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("test_c_api: all checks passed\n");
  return failures ? 1 : 0;
}

/*
 * mottrack.h — the stable C API of the mottrack native tracking core.
 *
 * The JDE/CSTrack association cascade of mottrack_sdk (Python: mottrack_sdk.Tracker) as a C
 * library: create a tracker with options, feed it one frame of detections at a time, read the
 * confirmed tracks of that frame. Only C types cross this boundary; a tracker is an opaque handle.
 *
 *   mottrack_options opts;
 *   mottrack_options_init(&opts);            // TrackerOptions defaults
 *   mottrack_tracker* t = NULL;
 *   if (mottrack_create(&opts, &t) != MOTTRACK_OK) fprintf(stderr, "%s\n", mottrack_last_error());
 *   int64_t n_tracks = 0;
 *   mottrack_apply_camera_motion(t, warp);   // optional: the camera's motion since the last frame
 *   mottrack_update(t, boxes_xyxy, scores, n, NULL, 0, NULL, &n_tracks);
 *   for (int64_t i = 0; i < n_tracks; ++i) { mottrack_track tr; mottrack_get_track(t, i, &tr); ... }
 *   mottrack_destroy(t);
 *
 * Units and formats: boxes are xyxy = (left, top, right, bottom) float64 in frame pixels, with
 * x2 > x1 and y2 > y1 and every coordinate within +-3.4e38 (float32's range); scores float64 (any
 * finite scale, the thresholds use the same scale); embeddings float32 (N x D, row-major; L2-normalised
 * here: a row whose sum of squares overflows or underflows float32 is refused); classes int64.
 * Score thresholds: by default (use_det_quantile = 1) the high / low thresholds of a frame are
 * quantiles of the latest score_window scores, so any score scale works unchanged; with
 * use_det_quantile = 0 the fixed det_thresh / low_score_thresh apply (scores on their scale).
 * Memory grows with the plausible track x detection pairs, never with tracks x detections: a frame of
 * tens of thousands of overlapping boxes runs in bounded memory (see bindings/README.md).
 *
 * Errors: every function returns a mottrack_status; on failure mottrack_last_error() gives a
 * message naming the argument (per thread, valid until the next failing call on that thread) and
 * the tracker is left as it was. No function aborts or throws on bad input.
 *
 * Threads: one tracker must not be used from two threads at once; distinct trackers are independent.
 */
#ifndef MOTTRACK_H
#define MOTTRACK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(MOTTRACK_BUILDING_DLL)
#define MOTTRACK_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MOTTRACK_API __attribute__((visibility("default")))
#else
#define MOTTRACK_API
#endif

#define MOTTRACK_VERSION_MAJOR 0
#define MOTTRACK_VERSION_MINOR 2
#define MOTTRACK_VERSION_PATCH 0

typedef enum mottrack_status {
  MOTTRACK_OK = 0,
  MOTTRACK_ERROR_NULL_POINTER = 1,     /* a required pointer was NULL */
  MOTTRACK_ERROR_INVALID_ARGUMENT = 2, /* negative count, NaN/inf, non-positive box size, wrong D, ... */
  MOTTRACK_ERROR_INVALID_OPTIONS = 3,  /* an option out of range, or an unknown options struct size */
  MOTTRACK_ERROR_OUT_OF_RANGE = 4,     /* a track index >= the track count */
  MOTTRACK_ERROR_BUFFER_TOO_SMALL = 5, /* caller buffer shorter than the track count */
  MOTTRACK_ERROR_OUT_OF_MEMORY = 6,
  MOTTRACK_ERROR_INTERNAL = 7
} mottrack_status;

/* Tracker options: the fields and defaults of mottrack_sdk.TrackerOptions, checked exactly as it
 * checks them (every number finite; +-inf and NaN are refused). Booleans are 0 or 1 (others are
 * refused); a Python option that may be None is a use_* flag (0: None; the value beside it is then
 * ignored) and a value.
 * Always start from mottrack_options_init(), which also sets struct_size (ABI check: a program
 * compiled against another version of this struct gets MOTTRACK_ERROR_INVALID_OPTIONS). */
typedef struct mottrack_options {
  uint32_t struct_size;          /* sizeof(mottrack_options), set by mottrack_options_init */
  double det_thresh;             /* fixed mode: high-score detections (>=), the only ones that start
                                    tracks. 0.5 (unused when use_det_quantile = 1) */
  int32_t use_low_score_thresh;  /* 1: low-score rescue on (Python: low_score_thresh not None). 1 */
  double low_score_thresh;       /* fixed mode: floor of the rescue, <= det_thresh. 0.1 */
  double embedding_thresh;       /* stage 1 accept (fused cosine + motion), cost <= value. 0.4 */
  double motion_thresh;          /* stage 1 accept (1 - IoU) without embeddings. 0.8 */
  double iou_thresh;             /* stage 2 accept (1 - IoU). 0.5 */
  double low_score_iou_thresh;   /* stage 2b accept (1 - IoU). 0.5 */
  double tentative_iou_thresh;   /* stage 3 accept (1 - IoU). 0.7 */
  double fusion_weight;          /* cosine weight in stage 1. 0.98 */
  int32_t gating;                /* 1: forbid stage-1 pairs whose Mahalanobis^2 exceeds the gate. 0 */
  double gating_threshold;       /* chi^2 95%, 4 dof. 9.4877 */
  int64_t track_buffer;          /* frames a lost track is kept, at 30 fps. 30 */
  double frame_rate;             /* the buffer scales by frame_rate / 30 (finite). 30 */
  double template_momentum;      /* template = m*old + (1-m)*new, renormalised. 0.9 */
  double duplicate_iou;          /* tracked/lost pairs above this IoU: drop the younger. 0.85 */
  double min_box_area;           /* output filter, px^2 (area > value). 100 */
  int32_t use_max_aspect_ratio;  /* 1: output filter on w/h on (Python: max_aspect_ratio not None). 1 */
  double max_aspect_ratio;       /* w/h <= value. 1.6 */
  double std_weight_position;    /* Kalman noise, scaled by box height, in [1e-6, 1e6]. 1/20 */
  double std_weight_velocity;    /* in [1e-6, 1e6]. 1/160 */
  int64_t min_hits;              /* matches on consecutive frames that confirm a new track, in
                                    [2, 1000] (2: JDE; first-frame tracks are confirmed at once). 4 */
  int32_t use_det_quantile;      /* 1: adaptive thresholds (Python: det_quantile not None). 1 */
  double det_quantile;           /* high threshold = this quantile of the latest scores, in [0, 1]. 0.15 */
  double low_score_quantile;     /* rescue floor = this quantile, in [0, det_quantile]; the rescue
                                    itself still needs use_low_score_thresh = 1. 0 */
  int64_t score_window;          /* scores the quantiles look back on (this frame's included), in
                                    [1, 2^20]: element (int64)(q * (n - 1)) of the n sorted. 2048 */
  double crowd_drop;             /* fixed mode only (use_det_quantile = 0 when > 0): both thresholds
                                    drop by crowd_drop * r in a crowd; 0: off. >= 0. 0 */
  double crowd_low;              /* r = clip((m - crowd_low) / (crowd_high - crowd_low), 0, 1), m the
                                    mean count of detections scoring >= det_thresh over the last
                                    crowd_frames frames (this one included). >= 0. 5 */
  double crowd_high;             /* > crowd_low. 20 */
  int64_t crowd_frames;          /* in [1, 10000]. 30 */
  int64_t max_detections;        /* a frame with more detections keeps this many of the highest
                                    scores (equal scores: the earlier rows), in their order: bounds
                                    the time of a hostile frame. In [1, 2^20]. 1000 (since 0.2.0) */
} mottrack_options;

/* One confirmed track of the latest frame (plain data, no reference into the tracker). */
typedef struct mottrack_track {
  int64_t track_id; /* public ID: from 1 per tracker, increasing, never reused */
  double xyxy[4];   /* Kalman posterior box, frame pixels */
  double score;     /* score of the detection that last updated it */
  int64_t class_id;
  int64_t hits;     /* detections taken */
  int64_t age;      /* frames since birth */
} mottrack_track;

typedef struct mottrack_tracker mottrack_tracker; /* opaque */

/* "MAJOR.MINOR.PATCH" of the library actually loaded. */
MOTTRACK_API const char* mottrack_version(void);

/* Message of the last failed call on this thread ("" if none). Never NULL. */
MOTTRACK_API const char* mottrack_last_error(void);

/* Short fixed name of a status code ("MOTTRACK_OK", ...). Never NULL. */
MOTTRACK_API const char* mottrack_status_name(mottrack_status status);

/* Fill *options with the defaults. */
MOTTRACK_API mottrack_status mottrack_options_init(mottrack_options* options);

/* Create a tracker; *out is set to NULL on failure. */
MOTTRACK_API mottrack_status mottrack_create(const mottrack_options* options, mottrack_tracker** out);

/* Destroy a tracker (NULL is a no-op). */
MOTTRACK_API void mottrack_destroy(mottrack_tracker* tracker);

/* Forget all tracks and restart IDs at 1 (a new stream). */
MOTTRACK_API mottrack_status mottrack_reset(mottrack_tracker* tracker);

/*
 * Advance one frame.
 *   boxes_xyxy:     num_detections x 4 float64 (may be NULL when num_detections == 0)
 *   scores:         num_detections float64 (may be NULL when num_detections == 0)
 *   embeddings:     num_detections x embedding_dim float32 row-major, or NULL for motion + IoU only;
 *                   rows must be finite and non-zero; D must stay the same until mottrack_reset
 *   classes:        num_detections int64, or NULL (one class)
 *   num_tracks_out: optional; receives the number of confirmed tracks of this frame
 * On error nothing changes (the frame is not counted), MOTTRACK_ERROR_OUT_OF_MEMORY included.
 */
MOTTRACK_API mottrack_status mottrack_update(mottrack_tracker* tracker, const double* boxes_xyxy,
                                             const double* scores, int64_t num_detections,
                                             const float* embeddings, int64_t embedding_dim,
                                             const int64_t* classes, int64_t* num_tracks_out);

/*
 * Camera-motion compensation: move every track's Kalman state by the camera's motion from the last
 * frame to the next one, before that frame's mottrack_update (as mottrack_sdk's Tracker does with
 * its CameraMotionEstimator). warp: 6 float64, the row-major 2x3 similarity [R | t] with
 * p_current = R p_previous + t in pixels (OpenCV's convention). Centres and velocities are rotated,
 * scaled and shifted, heights scaled by s = sqrt(det R), the covariances transformed alike; the exact
 * identity changes nothing. MOTTRACK_ERROR_INVALID_ARGUMENT (nothing changes) unless every entry is
 * finite and det R > 0. The latest frame's tracks (mottrack_get_tracks) are not changed.
 */
MOTTRACK_API mottrack_status mottrack_apply_camera_motion(mottrack_tracker* tracker, const double warp[6]);

/* Number of tracks of the latest frame. */
MOTTRACK_API mottrack_status mottrack_track_count(const mottrack_tracker* tracker, int64_t* count);

/* Track `index` (0 <= index < count) of the latest frame. */
MOTTRACK_API mottrack_status mottrack_get_track(const mottrack_tracker* tracker, int64_t index,
                                                mottrack_track* out);

/* Copy the latest frame's tracks into tracks[0 .. capacity). *count receives the number of tracks;
 * if capacity < count nothing is copied and MOTTRACK_ERROR_BUFFER_TOO_SMALL is returned (pass
 * tracks = NULL, capacity = 0 to query the count). */
MOTTRACK_API mottrack_status mottrack_get_tracks(const mottrack_tracker* tracker, mottrack_track* tracks,
                                                 int64_t capacity, int64_t* count);

/* Frames processed since creation or the last reset (the first frame is 1). */
MOTTRACK_API mottrack_status mottrack_frame_id(const mottrack_tracker* tracker, int64_t* frame_id);

/* Tracks held internally (tentative, tracked and lost): bounded on endless streams. */
MOTTRACK_API mottrack_status mottrack_live_track_count(const mottrack_tracker* tracker, int64_t* count);

#ifdef __cplusplus
}
#endif

#endif /* MOTTRACK_H */

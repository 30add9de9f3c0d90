// Options of the native tracking core: the fields, defaults and checks of TrackerOptions
// (sdk/tracking/options.py). Every cost threshold means "accept if cost <= value".
#pragma once

#include <cstdint>
#include <string>

namespace mottrack {

constexpr double kChi2Gate95_4Dof = 9.4877;
constexpr std::int64_t kMaxMinHits = 1000;            // options._MAX_MIN_HITS
constexpr std::int64_t kMaxScoreWindow = 1 << 20;     // options._MAX_SCORE_WINDOW (8 MiB of scores)
constexpr std::int64_t kMaxCrowdFrames = 10000;       // options._MAX_CROWD_FRAMES
constexpr std::int64_t kMaxKeptDetections = 1 << 20;  // options._MAX_KEPT_DETECTIONS

struct Options {
  double det_thresh = 0.5;             // high-score detections (fixed mode); the only ones that start tracks
  bool use_low_score = true;           // low-score rescue on (Python: low_score_thresh is not None)
  double low_score_thresh = 0.1;
  double embedding_thresh = 0.4;       // stage 1 accept (fused cosine + motion)
  double motion_thresh = 0.8;          // stage 1 accept (1 - IoU) without embeddings
  double iou_thresh = 0.5;             // stage 2 accept
  double low_score_iou_thresh = 0.5;   // stage 2b accept
  double tentative_iou_thresh = 0.7;   // stage 3 accept
  double fusion_weight = 0.98;         // weight of the cosine distance in stage 1
  bool gating = false;                 // forbid stage-1 pairs whose Mahalanobis^2 exceeds the gate
  double gating_threshold = kChi2Gate95_4Dof;
  std::int64_t track_buffer = 30;      // frames a lost track is kept, at 30 fps
  double frame_rate = 30.0;
  double template_momentum = 0.9;
  double duplicate_iou = 0.85;
  double min_box_area = 100.0;         // output filter (px^2)
  bool use_max_aspect_ratio = true;    // Python: max_aspect_ratio is not None
  double max_aspect_ratio = 1.6;
  double std_weight_position = 1.0 / 20;
  double std_weight_velocity = 1.0 / 160;
  std::int64_t min_hits = 4;           // matches on consecutive frames that confirm a track (JDE: 2)
  bool use_det_quantile = true;        // adaptive thresholds (Python: det_quantile is not None)
  double det_quantile = 0.15;          // high threshold: this quantile of the latest scores
  double low_score_quantile = 0.0;     // low-score floor (adaptive mode)
  std::int64_t score_window = 2048;    // scores the adaptive thresholds look back on
  double crowd_drop = 0.0;             // thresholds drop by up to this much in a crowd (fixed mode; 0: off)
  double crowd_low = 5.0;              // confident detections a frame (mean) where the drop starts
  double crowd_high = 20.0;            // ... and where it is whole
  std::int64_t crowd_frames = 30;      // frames that mean looks back on (this one included)
  std::int64_t max_detections = 1000;  // a frame's highest-scoring detections kept (time bound)

  /// int(frame_rate / 30 * track_buffer), saturated at INT64_MAX.
  std::int64_t max_time_lost() const;
};

/// Empty when the options are valid, otherwise a message naming the first bad field, exactly the
/// checks of TrackerOptions.__post_init__ in the same order (every number finite: +-inf and NaN are
/// refused for every field, as in Python; tests/bindings/test_options_parity.py compares both).
std::string validate_options(const Options& options);

}  // namespace mottrack

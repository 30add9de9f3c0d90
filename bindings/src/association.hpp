// The JDE / CSTrack association cascade over column-oriented track storage (C++ twin of
// sdk/tracking/core.py::AssociationCore, same options, same semantics, same tie-breaking).
//
// One step() per frame:
//  0. this frame's high / low score thresholds (fixed, or adaptive: quantiles of the latest scores;
//     fixed ones lowered in a crowd with crowd_drop; score_window.hpp); they replace det_thresh /
//     low_score_thresh everywhere below;
//  1. predict every track (lost tracks' height velocity zeroed, as JDE; core.py zeroes it when a
//     track becomes lost, and a tentative track keeps the velocity of its updates);
//  2. stage 1: confirmed tracks (tracked + lost) vs high-score detections on
//     w * cosine(template, embedding) + (1 - w) * Mahalanobis^2 under the chi^2 gate (embedding mode),
//     or 1 - IoU under the same gate (motion-only mode);
//  3. stage 2 (embedding mode): remaining tracked tracks vs remaining high-score detections, 1 - IoU;
//  4. stage 2b: remaining tracked tracks vs low-score detections, 1 - IoU (never start tracks);
//  5. stage 3: tentative tracks vs remaining high-score detections, 1 - IoU;
//  6. updates (Joseph-form Kalman, template EMA for high-score matches), lifecycle (a tentative track
//     is confirmed after min_hits matches on consecutive frames, dropped when it misses one), new
//     tracks, tracked/lost duplicate removal, public IDs for newly confirmed tracks (per instance,
//     from 1).
// apply_camera_motion() moves every track's Kalman state by the camera's warp before a step.
// Every stage pairs only tracks and detections of the same class.
//
// Inputs must be valid (see frame_input.hpp): N boxes xyxy float64 with positive sizes, finite
// scores, unit-norm float32 embeddings (N, D) or null, int64 classes.
//
// Memory is bounded on hostile frames as in core.py (search windows capped at kMaxWindowPairs pairs,
// oversized conflicts greedy, duplicate removal streamed), and a frame that throws (bad_alloc, a
// dimension mismatch) leaves the tracker exactly as it was: tracks, IDs, frame_id, last() output,
// the score window and the thresholds.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kalman.hpp"
#include "matching.hpp"
#include "options.hpp"
#include "score_window.hpp"
#include "track_table.hpp"

namespace mottrack {

/// Confirmed, tracked, output-filtered tracks of one frame, as columns (T rows, table order).
struct FrameTracks {
  std::vector<std::int64_t> track_id;
  std::vector<double> xyxy;  // (T, 4) Kalman posterior, pixels
  std::vector<double> score;
  std::vector<std::int64_t> class_id;
  std::vector<std::int64_t> hits;
  std::vector<std::int64_t> age;  // frames since birth
  std::size_t size() const { return track_id.size(); }
  void clear();
  void reserve(std::size_t n);
};

class AssociationCore {
 public:
  explicit AssociationCore(const Options& options);

  /// Forget every track; the next frame is frame 1 and IDs restart at 1.
  void reset();

  /// Advance one frame; the result stays valid until the next step() or reset().
  /// embeddings: (n, dim) row-major or null. Throws std::invalid_argument when dim disagrees with
  /// the templates already held. On any exception nothing changes (the frame is not counted).
  const FrameTracks& step(const double* xyxy, const double* scores, std::int64_t n, const float* embeddings,
                          std::int64_t dim, const std::int64_t* classes);

  /// Move every track's Kalman state by the camera's (2, 3) row-major similarity warp [R | t]
  /// (previous frame -> this frame, pixels; camera_motion.hpp). Call before step(). Throws
  /// std::invalid_argument (nothing changes) unless every entry is finite and det R > 0.
  void apply_camera_motion(const double* warp);

  /// The memory bounds (matching.hpp; core.AssociationCore's max_window_pairs / max_solver_side):
  /// tests lower them to reach the capped paths with small frames.
  void set_limits(std::size_t max_window_pairs, int max_solver_side);

  std::int64_t frame_id() const { return frame_id_; }
  std::size_t live_tracks() const { return table_.size(); }
  const FrameTracks& last() const { return output_; }
  const Options& options() const { return options_; }

 private:
  struct Frame {  // the current frame's inputs (what step() was given, validated)
    const double* xyxy;
    const double* scores;
    std::int64_t n;
    const float* embeddings;  // null: motion-only frame
    std::int64_t dim;
    const std::int64_t* classes;
    bool use_embeddings;  // embeddings given and the tracks hold templates
  };

  void run_frame(const Frame& f);
  void keep_highest(const double* xyxy, const double* scores, std::int64_t n, const float* embeddings,
                    std::int64_t dim, const std::int64_t* classes);
  void reserve_apply(const Frame& f);
  void cap_windows(const Frame& f);
  void map_positions(const Frame& f, const std::vector<int>& dets);
  void gated_pairs(const Frame& f, const std::vector<int>& rows, const std::vector<int>& dets, double gate);
  double stage1_gate(const Frame& f);
  double window_gate(const Frame& f);
  void iou_stage(const Frame& f, const std::vector<int>& rows, const std::vector<int>& dets, double limit);
  void commit(const std::vector<int>& rows, const std::vector<int>& dets, double limit);
  void free_rows(const std::vector<int>& rows, std::vector<int>& out) const;
  void untaken(const std::vector<int>& dets, std::vector<int>& out) const;
  void update_matched(const Frame& f);
  void age_out();
  void spawn(const Frame& f, const std::vector<int>& dets);
  void confirm(const std::vector<int>& rows);
  void remove_duplicates();
  void build_output();

  Options options_;
  KalmanBoxFilter kf_;
  TrackTable table_;
  std::int64_t frame_id_ = 0;
  std::int64_t next_uid_ = 1;
  std::int64_t next_id_ = 1;
  ScoreWindow score_window_;
  double hi_, lo_;  // this frame's thresholds (score_window_): high-score >= hi_, low-score >= lo_

  // Per-frame work buffers, reused across frames.
  std::vector<double> det_xyah_, track_xyxy_, gather_a_, gather_b_;
  std::vector<int> high_, low_, pool_, rows_, dets_, tentative_;
  std::vector<int> match_;             // track row -> detection index or -1
  std::vector<std::uint8_t> taken_, mask_;
  PairList pairs_, matched_;
  std::vector<double> cost_, maha_, inv_s_, radius_, det_cx_, sorted_cy_;
  std::vector<std::int64_t> sorted_cls_;
  std::vector<float> ema_;
  SweepScratch sweep_;
  PairAssigner assigner_;
  FrameTracks output_, next_output_;
  std::vector<double> pred_;  // Kalman rows: predicted here, then swapped with table_.kf
  // the frame's kept rows when it brings more than max_detections (keep_highest)
  std::vector<std::int64_t> kept_, kept_classes_;
  std::vector<double> kept_scratch_, kept_xyxy_, kept_scores_;
  std::vector<float> kept_embeddings_;
  bool predicted_ = false;    // table_.kf holds this frame's prediction (pred_ the previous rows)
  std::size_t reserved_rows_ = 0;  // reserve_apply: capacity every applying-phase buffer has
  std::int64_t reserved_dim_ = 0;

  // Search windows of this frame when cut (cap_windows): per table row whether it is cut, and the
  // first position of its block of block_len_ detections in all_centres_ (all detections by x).
  std::size_t max_window_pairs_ = kMaxWindowPairs;
  bool capped_ = false;
  std::size_t block_len_ = 0;
  std::vector<std::uint8_t> capped_row_;
  std::vector<std::size_t> block_start_, window_lo_, window_count_;
  std::vector<double> all_cx_, gather_free_;
  SortedCentres all_centres_;
  std::vector<int> det_pos_, free_k_;  // detection -> position in a stage's list (-1: not in it)
};

}  // namespace mottrack

// See association.hpp; each method names its twin in sdk/tracking/core.py. This file: a frame's
// associating phase (thresholds, predict, candidate pairs, stages 1-3); the applying phase (updates,
// lifecycle, output) is in association_lifecycle.cpp, the bounds on hostile frames and the
// reservations of the applying phase in association_bounds.cpp.
#include "association.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "camera_motion.hpp"
#include "frame_input.hpp"

namespace mottrack {
namespace {

const Options& checked(const Options& options) {  // before any member is built from them
  const std::string err = validate_options(options);
  if (!err.empty()) throw std::invalid_argument(err);
  return options;
}

}  // namespace

void FrameTracks::reserve(std::size_t n) {
  track_id.reserve(n);
  xyxy.reserve(4 * n);
  score.reserve(n);
  class_id.reserve(n);
  hits.reserve(n);
  age.reserve(n);
}

void FrameTracks::clear() {
  track_id.clear();
  xyxy.clear();
  score.clear();
  class_id.clear();
  hits.clear();
  age.clear();
}

AssociationCore::AssociationCore(const Options& options)
    : options_(checked(options)),
      kf_(options.std_weight_position, options.std_weight_velocity),
      score_window_(options),
      hi_(options.det_thresh),
      lo_(options.low_score_thresh) {}

void AssociationCore::reset() {
  table_.clear();
  frame_id_ = 0;
  next_uid_ = 1;
  next_id_ = 1;
  score_window_.clear();
  hi_ = options_.det_thresh;
  lo_ = options_.low_score_thresh;
  output_.clear();
}

// apply_camera_motion: cmc.warp_packed_state on the Kalman rows (nothing can fail once checked).
void AssociationCore::apply_camera_motion(const double* warp) {
  const std::string err = validate_warp(warp);
  if (!err.empty()) throw std::invalid_argument(err);
  warp_packed_rows(table_.kf.data(), table_.size(), warp);
}

const FrameTracks& AssociationCore::step(const double* xyxy, const double* scores, std::int64_t n,
                                         const float* embeddings, std::int64_t dim, const std::int64_t* classes) {
  if (n > 0 && embeddings != nullptr && table_.has_templates && dim != table_.dim)
    throw std::invalid_argument("embeddings: expected dimension D=" + std::to_string(table_.dim) +
                                " (as the tracks' templates), got " + std::to_string(dim));
  if (n > options_.max_detections) {  // the time bound: the frame's highest scores only (core._step)
    keep_highest(xyxy, scores, n, embeddings, dim, classes);
    xyxy = kept_xyxy_.data();
    scores = kept_scores_.data();
    embeddings = embeddings != nullptr ? kept_embeddings_.data() : nullptr;
    classes = classes != nullptr ? kept_classes_.data() : nullptr;
    n = options_.max_detections;
  }
  const Frame f{xyxy, scores, n, n > 0 ? embeddings : nullptr, dim, classes,
                n > 0 && embeddings != nullptr && table_.has_templates};
  // A frame has two phases. Associating (predict, pairs, costs, assignment) changes nothing but
  // this frame's scratch buffers and the Kalman rows, which are predicted into a copy swapped in
  // (and swapped back if anything throws). Applying (updates, lifecycle, new tracks, duplicates,
  // output) changes the table in place, so it runs only once reserve_apply() has made room for all
  // it may append: it cannot fail half-way. The output is built aside and swapped in at the end.
  const std::int64_t frame_id = frame_id_;
  const double hi = hi_, lo = lo_;  // the score window itself changes only once nothing can fail
  predicted_ = false;
  try {
    run_frame(f);
  } catch (...) {
    if (predicted_) table_.kf.swap(pred_);
    frame_id_ = frame_id;
    hi_ = hi;
    lo_ = lo;
    throw;
  }
  std::swap(output_, next_output_);
  return output_;
}

void AssociationCore::keep_highest(const double* xyxy, const double* scores, std::int64_t n,
                                   const float* embeddings, std::int64_t dim, const std::int64_t* classes) {
  highest_scores(scores, n, options_.max_detections, kept_scratch_, kept_);
  const std::size_t k = kept_.size();
  kept_xyxy_.resize(4 * k);
  kept_scores_.resize(k);
  kept_embeddings_.resize(embeddings != nullptr ? k * static_cast<std::size_t>(dim) : 0);
  kept_classes_.resize(classes != nullptr ? k : 0);
  for (std::size_t q = 0; q < k; ++q) {
    const std::int64_t i = kept_[q];
    std::copy(xyxy + 4 * i, xyxy + 4 * i + 4, &kept_xyxy_[4 * q]);
    kept_scores_[q] = scores[i];
    if (embeddings != nullptr) std::copy(embeddings + i * dim, embeddings + (i + 1) * dim, &kept_embeddings_[q * dim]);
    if (classes != nullptr) kept_classes_[q] = classes[i];
  }
}

void AssociationCore::run_frame(const Frame& f) {
  const Options& o = options_;
  const double* xyxy = f.xyxy;
  const double* scores = f.scores;
  const std::int64_t n = f.n;
  ++frame_id_;
  const ScoreThresholds thresholds = score_window_.thresholds(scores, static_cast<std::size_t>(n));
  hi_ = thresholds.hi;
  lo_ = thresholds.lo;
  const std::size_t T = table_.size();
  // predict into pred_, lost tracks with their height velocity zeroed (in place, and idempotent: it
  // stays 0 until an update makes the track tracked again). lifecycle.py zeroes it once, when a track
  // becomes lost; tentative tracks are born with vh = 0 and keep what their updates give them.
  for (std::size_t r = 0; r < T; ++r)
    if (table_.state[r] == kLost) table_.kf_row(r)[7] = 0.0;
  pred_.resize(table_.kf.size());
  kf_.predict(table_.kf.data(), pred_.data(), T);
  table_.kf.swap(pred_);  // pred_ keeps the rows of the last frame until this one is applied
  predicted_ = true;
  det_xyah_.resize(static_cast<std::size_t>(n) * 4);
  for (std::int64_t d = 0; d < n; ++d) xyxy_to_xyah(xyxy + 4 * d, &det_xyah_[4 * d]);
  track_xyxy_.resize(T * 4);
  for (std::size_t r = 0; r < T; ++r) xyah_to_xyxy(table_.kf_row(r), &track_xyxy_[4 * r]);
  high_.clear();
  low_.clear();
  for (std::int64_t d = 0; d < n; ++d) {
    if (scores[d] >= hi_)
      high_.push_back(static_cast<int>(d));
    else if (o.use_low_score && scores[d] >= lo_)
      low_.push_back(static_cast<int>(d));
  }
  match_.assign(T, -1);
  taken_.assign(static_cast<std::size_t>(n), 0);
  pool_.clear();
  tentative_.clear();
  for (std::size_t r = 0; r < T; ++r) (table_.state[r] != kTentative ? pool_ : tentative_).push_back(static_cast<int>(r));
  cap_windows(f);

  // stage 1: appearance + motion (or IoU + motion), gated. The assignment sees only the admissible
  // pairs (cost <= limit) and does not depend on their order, so candidates that can never be
  // admissible may be left out: stage1_gate() and the IoU-stage shortcut below change no result.
  if (f.use_embeddings) {
    gated_pairs(f, pool_, high_, stage1_gate(f));
    cost_.resize(pairs_.size());
    const float w32 = static_cast<float>(o.fusion_weight);  // numpy: python float * float32 array -> float32
    const double motion_weight = 1.0 - o.fusion_weight;
    for (std::size_t p = 0; p < pairs_.size(); ++p) {
      const int r = pool_[pairs_.ti[p]], d = high_[pairs_.dj[p]];
      const float cos32 = 1.0f - dot_f32(table_.template_row(r), f.embeddings + d * f.dim, f.dim);
      const float weighted = w32 * cos32;
      cost_[p] = static_cast<double>(weighted) + motion_weight * maha_[p];
    }
    commit(pool_, high_, o.embedding_thresh);
  } else if (!o.gating && o.motion_thresh < 1.0) {
    // no gate and a limit below 1: only overlapping boxes (IoU > 0) are admissible, which is what
    // an IoU stage pairs (the same boxes, the same 1 - IoU)
    iou_stage(f, pool_, high_, o.motion_thresh);
  } else {
    gated_pairs(f, pool_, high_, stage1_gate(f));
    cost_.resize(pairs_.size());
    for (std::size_t p = 0; p < pairs_.size(); ++p)
      cost_[p] = 1.0 - box_iou(&track_xyxy_[4 * pool_[pairs_.ti[p]]], xyxy + 4 * high_[pairs_.dj[p]]);
    commit(pool_, high_, o.motion_thresh);
  }

  // stage 2: IoU for tracks that were tracked in the previous frame
  if (f.use_embeddings) {
    free_rows(pool_, rows_);
    untaken(high_, dets_);
    iou_stage(f, rows_, dets_, o.iou_thresh);
  }
  // stage 2b: low-score rescue
  free_rows(pool_, rows_);
  iou_stage(f, rows_, low_, o.low_score_iou_thresh);
  // stage 3: tentative tracks
  untaken(high_, dets_);
  iou_stage(f, tentative_, dets_, o.tentative_iou_thresh);

  reserve_apply(f);
  score_window_.push(scores, static_cast<std::size_t>(n));  // from here on nothing allocates or throws
  update_matched(f);
  age_out();
  untaken(high_, dets_);
  spawn(f, dets_);
  remove_duplicates();
  build_output();
}

// _gated_pairs: same-class (row, det) pairs with Mahalanobis^2 <= gate (all same-class pairs for an
// infinite gate), with Mahalanobis^2 (pairs_, maha_). S is diagonal, so d^T S^-1 d <= g implies
// |d_x| <= sqrt(g S_xx) and |d_y| <= sqrt(g S_yy): a window in x and y (inflated by 1e-9 against
// rounding; an implied gate also by the rounding of the coordinates) finds every candidate without a
// T x M matrix; the Mahalanobis test alone decides.
void AssociationCore::gated_pairs(const Frame& f, const std::vector<int>& rows, const std::vector<int>& dets,
                                  double gate) {
  pairs_.clear();
  maha_.clear();
  if (rows.empty() || dets.empty()) return;
  const bool gated = gate < INFINITY, implied = gated && !options_.gating;
  const std::size_t P = rows.size();
  inv_s_.resize(P * 4);
  radius_.resize(P * 2);
  for (std::size_t k = 0; k < P; ++k) {
    const double* z = table_.kf_row(rows[k]);
    double s[4];
    kf_.innovation(z, s);
    for (int c = 0; c < 4; ++c) inv_s_[4 * k + c] = 1.0 / s[c];
    for (int c = 0; c < 2; ++c) {
      double r = std::sqrt(s[c] * gate) * (1.0 + 1e-9);
      if (implied) r += 4.5e-16 * (std::fabs(z[c]) + r);  // z -+ r rounds by up to 1.1e-16 (|z| + r)
      radius_[2 * k + c] = r;
    }
  }
  const std::int64_t* cls = f.classes;
  auto accept = [&](std::size_t k, int m) {  // the Mahalanobis test decides
    const double* dz = &det_xyah_[4 * dets[m]];
    const double* z = table_.kf_row(rows[k]);
    const double diff[4] = {dz[0] - z[0], dz[1] - z[1], dz[2] - z[2], dz[3] - z[3]};
    const double maha = mahalanobis_sq(diff, &inv_s_[4 * k]);
    if (gated && !(maha <= gate)) return;
    pairs_.ti.push_back(static_cast<int>(k));
    pairs_.dj.push_back(m);
    maha_.push_back(maha);
  };
  if (capped_) map_positions(f, dets);
  // a row with a cut window: only the detections of its block (the Mahalanobis test still decides)
  auto block_pairs = [&](std::size_t k) {
    const std::int64_t c = table_.class_id[rows[k]];
    const std::size_t start = block_start_[rows[k]];
    for (std::size_t q = start; q < start + block_len_; ++q) {
      const int d = all_centres_.index(q);
      if (det_pos_[d] >= 0 && cls[d] == c) accept(k, det_pos_[d]);
    }
  };
  if (gated) {
    // Candidates: the x window by binary search over the detections sorted by centre, then the
    // y window and the class on arrays in that sorted order (a tight, branch-light inner loop).
    det_cx_.resize(dets.size());
    for (std::size_t m = 0; m < dets.size(); ++m) det_cx_[m] = det_xyah_[4 * dets[m]];
    SortedCentres& sc = sweep_.centres;
    sc.build(det_cx_);
    const std::size_t M = sc.size();
    sorted_cy_.resize(M);
    sorted_cls_.resize(M);
    for (std::size_t q = 0; q < M; ++q) {
      const int d = dets[sc.index(q)];
      sorted_cy_[q] = det_xyah_[4 * d + 1];
      sorted_cls_[q] = cls[d];
    }
    for (std::size_t k = 0; k < P; ++k) {
      if (capped_ && capped_row_[rows[k]]) {
        block_pairs(k);
        continue;
      }
      const double* z = table_.kf_row(rows[k]);
      const double rx = radius_[2 * k], ry = radius_[2 * k + 1];
      const std::int64_t c = table_.class_id[rows[k]];
      const std::size_t hi = sc.right(z[0] + rx);
      for (std::size_t q = sc.left(z[0] - rx); q < hi; ++q)
        if (std::fabs(sorted_cy_[q] - z[1]) <= ry && sorted_cls_[q] == c) accept(k, sc.index(q));
    }
  } else {
    for (std::size_t k = 0; k < P; ++k) {
      if (capped_ && capped_row_[rows[k]]) {
        block_pairs(k);
        continue;
      }
      for (std::size_t m = 0; m < dets.size(); ++m)
        if (table_.class_id[rows[k]] == cls[dets[m]]) accept(k, static_cast<int>(m));
    }
  }
}

// _iou_stage: same-class overlapping pairs on 1 - IoU.
void AssociationCore::iou_stage(const Frame& f, const std::vector<int>& rows, const std::vector<int>& dets,
                                double limit) {
  if (rows.empty() || dets.empty()) return;
  gather_a_.resize(rows.size() * 4);
  gather_b_.resize(dets.size() * 4);
  for (std::size_t k = 0; k < rows.size(); ++k)
    for (int c = 0; c < 4; ++c) gather_a_[4 * k + c] = track_xyxy_[4 * rows[k] + c];
  for (std::size_t m = 0; m < dets.size(); ++m)
    for (int c = 0; c < 4; ++c) gather_b_[4 * m + c] = f.xyxy[4 * dets[m] + c];
  if (!capped_) {
    overlap_pairs(gather_a_, gather_b_, sweep_, pairs_);
  } else {  // rows with a cut window: only their blocks; the others through the sweep
    free_k_.clear();
    gather_free_.clear();
    for (std::size_t k = 0; k < rows.size(); ++k)
      if (!capped_row_[rows[k]]) {
        free_k_.push_back(static_cast<int>(k));
        gather_free_.insert(gather_free_.end(), &gather_a_[4 * k], &gather_a_[4 * k] + 4);
      }
    pairs_.clear();
    for_each_overlap(gather_free_, gather_b_, sweep_, [this](int t, int m) {
      pairs_.ti.push_back(free_k_[t]);
      pairs_.dj.push_back(m);
    });
    map_positions(f, dets);
    for (std::size_t k = 0; k < rows.size(); ++k) {
      if (!capped_row_[rows[k]]) continue;
      const std::size_t start = block_start_[rows[k]];
      for (std::size_t q = start; q < start + block_len_; ++q) {
        const int m = det_pos_[all_centres_.index(q)];
        if (m >= 0 && boxes_overlap(&gather_a_[4 * k], &gather_b_[4 * m])) {
          pairs_.ti.push_back(static_cast<int>(k));
          pairs_.dj.push_back(m);
        }
      }
    }
  }
  std::size_t kept = 0;
  cost_.clear();
  for (std::size_t p = 0; p < pairs_.size(); ++p) {
    const int k = pairs_.ti[p], m = pairs_.dj[p];
    if (table_.class_id[rows[k]] != f.classes[dets[m]]) continue;
    pairs_.ti[kept] = k;
    pairs_.dj[kept++] = m;
    cost_.push_back(1.0 - box_iou(&gather_a_[4 * k], &gather_b_[4 * m]));
  }
  pairs_.ti.resize(kept);
  pairs_.dj.resize(kept);
  commit(rows, dets, limit);
}

// _commit: assign pairs_ (cost_) and record the matches.
void AssociationCore::commit(const std::vector<int>& rows, const std::vector<int>& dets, double limit) {
  assigner_.assign(pairs_, cost_, limit, static_cast<int>(rows.size()), static_cast<int>(dets.size()), matched_);
  for (std::size_t p = 0; p < matched_.size(); ++p) {
    const int d = dets[matched_.dj[p]];
    match_[rows[matched_.ti[p]]] = d;
    taken_[d] = 1;
  }
}

// _free_rows(rows, match, TRACKED): rows still unmatched whose state is tracked.
void AssociationCore::free_rows(const std::vector<int>& rows, std::vector<int>& out) const {
  out.clear();
  for (int r : rows)
    if (match_[r] < 0 && table_.state[r] == kTracked) out.push_back(r);
}

// high[~taken[high]]
void AssociationCore::untaken(const std::vector<int>& dets, std::vector<int>& out) const {
  out.clear();
  for (int d : dets)
    if (!taken_[d]) out.push_back(d);
}

}  // namespace mottrack

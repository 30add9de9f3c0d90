// AssociationCore's bounds (see association.hpp): the search-window cap on hostile frames
// (core._associate / matching.sweep_pairs(max_pairs) in Python), the gate stage 1 implies without
// the chi^2 gate, the memory reserved before the applying phase, and the limits tests lower.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "association.hpp"
#include "frame_input.hpp"

namespace mottrack {

void AssociationCore::set_limits(std::size_t max_window_pairs, int max_solver_side) {
  if (max_window_pairs < 1 || max_solver_side < 2)
    throw std::invalid_argument("limits: expected max_window_pairs >= 1 and max_solver_side >= 2");
  max_window_pairs_ = max_window_pairs;
  assigner_.max_side = max_solver_side;
}

// Capacity for everything the applying phase may append (at most T + n tracks), so that it cannot
// throw half-way. Buffers only grow (and pairs that are swapped are both reserved), so once they
// hold the stream's largest frame this is one comparison.
void AssociationCore::reserve_apply(const Frame& f) {
  const std::size_t cap = table_.size() + static_cast<std::size_t>(f.n);
  const std::int64_t dim = table_.has_templates ? table_.dim : (f.embeddings != nullptr ? f.dim : 0);
  if (cap <= reserved_rows_ && dim <= reserved_dim_) return;
  const std::size_t rows = std::max(cap, reserved_rows_);
  const std::int64_t d = std::max(dim, reserved_dim_);
  table_.reserve(rows, d);
  pred_.reserve(rows * kPackedWidth);  // swapped with table_.kf every frame
  for (std::vector<int>* v : {&rows_, &tentative_, &dets_}) v->reserve(rows);
  mask_.reserve(rows);
  for (std::vector<double>* v : {&track_xyxy_, &gather_a_, &gather_b_}) v->reserve(4 * rows);
  sweep_.det_cx.reserve(rows);
  sweep_.centres.reserve(rows);
  ema_.reserve(static_cast<std::size_t>(d));
  output_.reserve(rows);  // swapped with next_output_ every frame
  next_output_.reserve(rows);
  reserved_rows_ = rows;  // only once every reservation succeeded
  reserved_dim_ = d;
}

// core._associate's single search window per frame (every track, every detection; the larger of the
// chi^2 bound and the overlap bound), cut as matching.sweep_pairs(max_pairs) cuts it: when the
// windows hold more than max_window_pairs_ pairs, a track whose window holds more than
// K = max_window_pairs_ / T detections keeps the K nearest along x. The stages then pair such a
// track only with detections of its block.
void AssociationCore::cap_windows(const Frame& f) {
  capped_ = false;
  const std::size_t T = table_.size(), n = static_cast<std::size_t>(f.n);
  if (T == 0 || n == 0 || T * n <= max_window_pairs_) return;  // the windows cannot hold more
  double max_w = -INFINITY;
  all_cx_.resize(n);
  for (std::size_t d = 0; d < n; ++d) {
    max_w = std::max(max_w, f.xyxy[4 * d + 2] - f.xyxy[4 * d]);
    all_cx_[d] = det_xyah_[4 * d];
  }
  all_centres_.build(all_cx_);
  window_lo_.resize(T);
  window_count_.resize(T);
  std::size_t total = 0;
  const double g = window_gate(f);
  for (std::size_t r = 0; r < T; ++r) {
    const double* z = table_.kf_row(r);
    double rx = INFINITY;
    if (g < INFINITY) {
      double s[4];
      kf_.innovation(z, s);
      const double* box = &track_xyxy_[4 * r];
      rx = std::max(std::sqrt(s[0] * g), (box[2] - box[0] + max_w) * 0.5) * (1.0 + 1e-9);
    }
    window_lo_[r] = all_centres_.left(z[0] - rx);
    window_count_[r] = all_centres_.right(z[0] + rx) - window_lo_[r];
    total += window_count_[r];
  }
  if (total <= max_window_pairs_) return;
  block_len_ = std::max<std::size_t>(1, max_window_pairs_ / T);
  capped_row_.assign(T, 0);
  block_start_.resize(T);
  for (std::size_t r = 0; r < T; ++r) {
    if (window_count_[r] <= block_len_) continue;
    capped_row_[r] = 1;
    block_start_[r] = nearest_block(all_centres_, table_.kf_row(r)[0], window_lo_[r], window_count_[r], block_len_);
  }
  capped_ = true;
}

// The search window's Mahalanobis^2 bound, as core.py's _window_gate (both cores cut the same
// windows on hostile frames): the gate; without it and with embeddings the largest Mahalanobis^2
// stage 1 can accept given the largest template and embedding norms of the whole table and frame
// (cos >= 1 - |t| |e| - 1e-3); motion-only with motion_thresh < 1, 0 (the overlap bound alone).
double AssociationCore::window_gate(const Frame& f) {
  const Options& o = options_;
  double gate = o.gating ? o.gating_threshold : INFINITY;
  if (f.use_embeddings) {
    if (o.fusion_weight < 1.0 && !o.gating && f.n > 0) {
      double templ = 0.0, emb = 0.0;
      for (std::size_t r = 0; r < table_.size(); ++r)
        templ = std::max(templ, squared_norm(table_.template_row(r), f.dim));
      for (std::int64_t d = 0; d < f.n; ++d)
        emb = std::max(emb, squared_norm(f.embeddings + static_cast<std::size_t>(d) * f.dim, f.dim));
      const double c = 1.0 - std::sqrt(templ) * std::sqrt(emb) - 1e-3;
      gate = std::max(0.0, (o.embedding_thresh - o.fusion_weight * c) / (1.0 - o.fusion_weight));
    }
  } else if (o.motion_thresh < 1.0) {
    gate = 0.0;
  }
  return gate;
}

// Stage 1's Mahalanobis^2 bound: gating_threshold with the gate on. Without it (the default) and with
// embeddings, an admissible pair has cost = w * cos + (1 - w) * maha <= embedding_thresh, and
// Cauchy-Schwarz gives cos = 1 - <t, e> >= 1 - |t| |e| (about 0 for the unit vectors Tracker and
// the C API pass), so maha <= (embedding_thresh - w * min(0, cos)) / (1 - w): about 20 with the
// defaults. Pairs beyond it can never be admitted; leaving them out saves their D-dimensional dot
// products (T x M of them) and changes no result. The norms are this frame's (templates of the
// stage's tracks, its high-score embeddings), so the bound holds for any input; the margins cover
// every rounding (float32 products and dot, double sums). Infinity: no bound (all pairs).
double AssociationCore::stage1_gate(const Frame& f) {
  const Options& o = options_;
  if (o.gating) return o.gating_threshold;
  const double motion_weight = 1.0 - o.fusion_weight;
  if (!f.use_embeddings || !(motion_weight > 0.0)) return INFINITY;
  double templ = 0.0, emb = 0.0;  // largest squared norms
  for (int r : pool_)
    if (table_.has_template[r]) templ = std::max(templ, squared_norm(table_.template_row(r), f.dim));
  for (int d : high_) emb = std::max(emb, squared_norm(f.embeddings + static_cast<std::size_t>(d) * f.dim, f.dim));
  const double norms = std::sqrt(templ) * std::sqrt(emb);
  const double cos_low = 1.0 - norms * (1.0 + 1e-6) - 1e-6 * (1.0 + norms);  // <= every float32 cos
  const double weighted_low = std::min(0.0, cos_low) * (1.0 + 1e-6);        // <= float32(w) * cos (w in [0, 1])
  const double gate = (o.embedding_thresh - weighted_low) / motion_weight * (1.0 + 1e-6) + 1e-12;
  return gate < 1e300 ? gate : INFINITY;  // (NaN norms: no bound)
}

// det_pos_[d] = position of detection d in `dets`, or -1.
void AssociationCore::map_positions(const Frame& f, const std::vector<int>& dets) {
  det_pos_.assign(static_cast<std::size_t>(f.n), -1);
  for (std::size_t m = 0; m < dets.size(); ++m) det_pos_[dets[m]] = static_cast<int>(m);
}

}  // namespace mottrack

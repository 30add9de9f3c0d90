// AssociationCore's applying phase (see association.hpp): updates, lifecycle, new tracks, duplicate
// removal and the output, each method named after its twin in sdk/tracking/lifecycle.py. It runs only once
// reserve_apply() (association_bounds.cpp) has made room for all it appends: nothing here allocates,
// so a frame cannot fail half-way.
#include <cstdint>
#include <vector>

#include "association.hpp"
#include "frame_input.hpp"

namespace mottrack {

// _update_matched: Kalman update, template EMA (high-score matches only), state and counters.
void AssociationCore::update_matched(const Frame& f) {
  const Options& o = options_;
  rows_.clear();
  for (std::size_t r = 0; r < table_.size(); ++r)
    if (match_[r] >= 0) rows_.push_back(static_cast<int>(r));
  if (rows_.empty()) return;
  for (int r : rows_) kf_.update(table_.kf_row(r), &det_xyah_[4 * match_[r]]);
  if (f.embeddings != nullptr) {
    if (!table_.has_templates) table_.enable_templates(f.dim);
    const std::size_t D = static_cast<std::size_t>(f.dim);
    ema_.resize(D);
    for (int r : rows_) {
      const int d = match_[r];
      if (!(f.scores[d] >= hi_)) continue;  // low-score matches leave the template alone
      const float m = table_.has_template[r] ? static_cast<float>(o.template_momentum) : 0.0f;
      update_template(table_.template_row(r), f.embeddings + static_cast<std::size_t>(d) * D, m, f.dim, ema_.data());
      table_.has_template[r] = 1;
    }
  }
  tentative_.clear();  // newly confirmed
  for (int r : rows_) {
    table_.score[r] = f.scores[match_[r]];
    table_.hits[r] += 1;
    table_.last_frame[r] = frame_id_;
    if (table_.state[r] == kTentative) {
      // birth hysteresis: a tentative track needs min_hits consecutive matches (updated, not confirmed)
      if (o.min_hits > 2 && table_.hits[r] < o.min_hits) continue;
      tentative_.push_back(r);
    }
    table_.state[r] = kTracked;
  }
  confirm(tentative_);
}

// _age_out: tracked -> lost when unmatched; lost past max_time_lost and unmatched tentative removed
// (a tentative track still waiting for min_hits was matched this frame: it stays).
void AssociationCore::age_out() {
  const std::int64_t max_lost = options_.max_time_lost();
  const std::size_t T = table_.size();
  mask_.assign(T, 1);
  for (std::size_t r = 0; r < T; ++r) {
    const bool unmatched = match_[r] < 0;
    if (unmatched && table_.state[r] == kTracked) table_.state[r] = kLost;
    const bool expired = table_.state[r] == kLost && frame_id_ - table_.last_frame[r] > max_lost;
    if (expired || (unmatched && table_.state[r] == kTentative)) mask_[r] = 0;
  }
  table_.keep(mask_);
}

// _spawn: tentative tracks from unmatched high-score detections (confirmed at once on frame 1).
void AssociationCore::spawn(const Frame& f, const std::vector<int>& dets) {
  if (dets.empty()) return;
  const bool first = frame_id_ == 1;
  if (f.embeddings != nullptr && !table_.has_templates) table_.enable_templates(f.dim);
  const std::size_t start = table_.size();
  double row[kPackedWidth];
  for (int d : dets) {
    kf_.initiate(&det_xyah_[4 * d], row);
    const float* templ = f.embeddings != nullptr ? f.embeddings + static_cast<std::size_t>(d) * f.dim : nullptr;
    table_.append(next_uid_++, first ? kTracked : kTentative, f.classes[d], f.scores[d], frame_id_, row, templ);
  }
  if (first) {
    rows_.clear();
    for (std::size_t r = start; r < table_.size(); ++r) rows_.push_back(static_cast<int>(r));
    confirm(rows_);
  }
}

// _confirm: public IDs in uid order (rows are kept in uid order), per instance, never reused.
void AssociationCore::confirm(const std::vector<int>& rows) {
  for (int r : rows) table_.track_id[r] = next_id_++;
}

// _remove_duplicates: tracked/lost pairs of one class with IoU > duplicate_iou; the younger goes.
void AssociationCore::remove_duplicates() {
  const std::size_t T = table_.size();
  rows_.clear();
  dets_.clear();  // lost rows
  for (std::size_t r = 0; r < T; ++r) (table_.state[r] != kLost ? rows_ : dets_).push_back(static_cast<int>(r));
  if (rows_.empty() || dets_.empty()) return;
  track_xyxy_.resize(T * 4);
  for (std::size_t r = 0; r < T; ++r) xyah_to_xyxy(table_.kf_row(r), &track_xyxy_[4 * r]);
  gather_a_.resize(rows_.size() * 4);
  gather_b_.resize(dets_.size() * 4);
  for (std::size_t k = 0; k < rows_.size(); ++k)
    for (int c = 0; c < 4; ++c) gather_a_[4 * k + c] = track_xyxy_[4 * rows_[k] + c];
  for (std::size_t k = 0; k < dets_.size(); ++k)
    for (int c = 0; c < 4; ++c) gather_b_[4 * k + c] = track_xyxy_[4 * dets_[k] + c];
  mask_.assign(T, 1);
  bool any = false;
  // each pair's verdict depends on that pair alone: judged as found, never stored (bounded memory)
  for_each_overlap(gather_a_, gather_b_, sweep_, [&](int t, int l) {
    const int a = rows_[t], b = dets_[l];
    if (!(box_iou(&track_xyxy_[4 * a], &track_xyxy_[4 * b]) > options_.duplicate_iou)) return;
    if (table_.class_id[a] != table_.class_id[b]) return;
    const std::int64_t age_a = frame_id_ - table_.start_frame[a], age_b = frame_id_ - table_.start_frame[b];
    mask_[age_a > age_b ? b : a] = 0;
    any = true;
  });
  if (any) table_.keep(mask_);
}

// _output: confirmed tracked rows passing the area / aspect filter.
void AssociationCore::build_output() {
  const Options& o = options_;
  FrameTracks& out = next_output_;  // swapped into output_ once the frame succeeded
  out.clear();
  for (std::size_t r = 0; r < table_.size(); ++r) {
    if (table_.state[r] != kTracked || table_.track_id[r] <= 0) continue;
    double b[4];
    xyah_to_xyxy(table_.kf_row(r), b);
    const double w = b[2] - b[0], h = b[3] - b[1];
    bool keep = w * h > o.min_box_area;
    if (o.use_max_aspect_ratio) keep = keep && w / h <= o.max_aspect_ratio;
    if (!keep) continue;
    out.track_id.push_back(table_.track_id[r]);
    out.xyxy.insert(out.xyxy.end(), b, b + 4);
    out.score.push_back(table_.score[r]);
    out.class_id.push_back(table_.class_id[r]);
    out.hits.push_back(table_.hits[r]);
    out.age.push_back(frame_id_ - table_.start_frame[r]);
  }
}

}  // namespace mottrack

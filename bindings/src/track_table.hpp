// Column-oriented storage of all live tracks (one contiguous array per attribute).
//
// Mirrors sdk/tracking/track_table.py: rows stay in birth order (uid ascending), removal compacts
// every column at once (memory bounded by the live tracks), appends go to the end. Templates are
// (T, D) float32 unit vectors once any track has one (zero rows: none yet).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kalman.hpp"

namespace mottrack {

enum TrackState : std::int8_t { kTentative = 0, kTracked = 1, kLost = 2 };  // = mottrack_sdk.types.TrackState

struct TrackTable {
  std::vector<std::int64_t> uid;          // internal, never reused
  std::vector<std::int64_t> track_id;     // public id, 0 until confirmed
  std::vector<std::int8_t> state;
  std::vector<std::int64_t> class_id;
  std::vector<double> score;
  std::vector<std::int64_t> start_frame;
  std::vector<std::int64_t> last_frame;   // frame of the last detection
  std::vector<std::int64_t> hits;
  std::vector<double> kf;                 // (T, kPackedWidth) Kalman rows: mean, covariance blocks
  std::vector<float> templ;               // (T, D) when has_templates
  std::vector<std::uint8_t> has_template;
  bool has_templates = false;             // Python: template is not None
  std::int64_t dim = 0;                   // D

  std::size_t size() const { return uid.size(); }

  void clear();

  /// Keep rows whose mask entry is non-zero, in order; the others are removed for good.
  void keep(const std::vector<std::uint8_t>& mask);

  /// Capacity for `rows` rows (templates of dimension `d`, none when 0): appends up to it never allocate.
  void reserve(std::size_t rows, std::int64_t d);

  /// Give every row a zero (D,) template (first time embeddings arrive).
  void enable_templates(std::int64_t d);

  /// Append one row; the Kalman row (kPackedWidth,) is copied, the template from templ_row (D,) or
  /// zeros when null.
  void append(std::int64_t uid_value, std::int8_t state_value, std::int64_t class_value, double score_value,
              std::int64_t frame, const double* kf_row, const float* templ_row);

  double* kf_row(std::size_t r) { return kf.data() + r * kPackedWidth; }
  const double* kf_row(std::size_t r) const { return kf.data() + r * kPackedWidth; }

  float* template_row(std::size_t r) { return templ.data() + r * static_cast<std::size_t>(dim); }
};

}  // namespace mottrack

// See track_table.hpp.
#include "track_table.hpp"

#include <algorithm>

namespace mottrack {
namespace {

template <typename T>
void compact(std::vector<T>& column, const std::vector<std::uint8_t>& mask, std::size_t width) {
  std::size_t out = 0;
  for (std::size_t r = 0; r < mask.size(); ++r) {
    if (!mask[r]) continue;
    if (out != r) std::copy_n(column.begin() + r * width, width, column.begin() + out * width);
    ++out;
  }
  column.resize(out * width);
}

}  // namespace

void TrackTable::clear() {
  uid.clear();
  track_id.clear();
  state.clear();
  class_id.clear();
  score.clear();
  start_frame.clear();
  last_frame.clear();
  hits.clear();
  kf.clear();
  templ.clear();
  has_template.clear();
  has_templates = false;
  dim = 0;
}

void TrackTable::keep(const std::vector<std::uint8_t>& mask) {
  if (std::all_of(mask.begin(), mask.end(), [](std::uint8_t m) { return m != 0; })) return;
  compact(uid, mask, 1);
  compact(track_id, mask, 1);
  compact(state, mask, 1);
  compact(class_id, mask, 1);
  compact(score, mask, 1);
  compact(start_frame, mask, 1);
  compact(last_frame, mask, 1);
  compact(hits, mask, 1);
  compact(kf, mask, kPackedWidth);
  compact(has_template, mask, 1);
  if (has_templates) compact(templ, mask, static_cast<std::size_t>(dim));
}

void TrackTable::reserve(std::size_t rows, std::int64_t d) {
  for (std::vector<std::int64_t>* v : {&uid, &track_id, &class_id, &start_frame, &last_frame, &hits}) v->reserve(rows);
  state.reserve(rows);
  score.reserve(rows);
  kf.reserve(rows * kPackedWidth);
  has_template.reserve(rows);
  if (d > 0) templ.reserve(rows * static_cast<std::size_t>(d));
}

void TrackTable::enable_templates(std::int64_t d) {
  has_templates = true;
  dim = d;
  templ.assign(size() * static_cast<std::size_t>(d), 0.0f);
}

void TrackTable::append(std::int64_t uid_value, std::int8_t state_value, std::int64_t class_value,
                        double score_value, std::int64_t frame, const double* kf_row,
                        const float* templ_row) {
  uid.push_back(uid_value);
  track_id.push_back(0);
  state.push_back(state_value);
  class_id.push_back(class_value);
  score.push_back(score_value);
  start_frame.push_back(frame);
  last_frame.push_back(frame);
  hits.push_back(1);
  kf.insert(kf.end(), kf_row, kf_row + kPackedWidth);
  has_template.push_back(templ_row != nullptr);
  if (has_templates) {
    if (templ_row != nullptr)
      templ.insert(templ.end(), templ_row, templ_row + dim);
    else
      templ.resize(templ.size() + static_cast<std::size_t>(dim), 0.0f);
  }
}

}  // namespace mottrack

// See options.hpp.
#include "options.hpp"

#include <cmath>
#include <limits>
#include <sstream>

namespace mottrack {
namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// _check(name, value, low, high, open_low): finite (never +-inf or NaN, whatever the range) and inside
// the range, as TrackerOptions refuses them (an infinite noise weight or gate silently loses every track).
std::string check(const char* name, double value, double low, double high, bool open_low = false) {
  if (!std::isfinite(value)) return std::string("TrackerOptions.") + name + ": expected a finite number, got " + fmt(value);
  if (value < low || value > high || (open_low && value == low)) {
    const std::string bound = open_low ? "(" + fmt(low) + ", " + fmt(high) + "]" : "[" + fmt(low) + ", " + fmt(high) + "]";
    return std::string("TrackerOptions.") + name + ": expected a value in " + bound + ", got " + fmt(value);
  }
  return {};
}

// _check_int(name, value, low, high): the integer's type is Python's concern (the pybind module
// refuses non-integers with this very message), the range is checked here.
std::string check_int(const char* name, std::int64_t value, std::int64_t low, std::int64_t high) {
  if (value >= low && value <= high) return {};
  return std::string("TrackerOptions.") + name + ": expected an integer in [" + std::to_string(low) + ", " +
         std::to_string(high) + "], got " + std::to_string(value);
}

}  // namespace

std::int64_t Options::max_time_lost() const {
  const double t = frame_rate / 30.0 * static_cast<double>(track_buffer);
  if (!(t < 9.2e18)) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(t);  // int() truncates toward zero; t >= 0
}

std::string validate_options(const Options& o) {
  const struct {
    const char* name;
    double value;
  } unit[] = {{"embedding_thresh", o.embedding_thresh}, {"motion_thresh", o.motion_thresh},
              {"iou_thresh", o.iou_thresh},             {"low_score_iou_thresh", o.low_score_iou_thresh},
              {"tentative_iou_thresh", o.tentative_iou_thresh}, {"fusion_weight", o.fusion_weight},
              {"template_momentum", o.template_momentum}, {"duplicate_iou", o.duplicate_iou}};
  for (const auto& u : unit) {
    std::string err = check(u.name, u.value, 0.0, 1.0);
    if (!err.empty()) return err;
  }
  std::string err = check("det_thresh", o.det_thresh, -INFINITY, INFINITY);
  if (!err.empty()) return err;
  if (o.use_low_score) {
    err = check("low_score_thresh", o.low_score_thresh, -INFINITY, INFINITY);
    if (!err.empty()) return err;
    if (o.low_score_thresh > o.det_thresh)
      return "TrackerOptions.low_score_thresh: expected <= det_thresh (" + fmt(o.det_thresh) + "), got " +
             fmt(o.low_score_thresh) + " (lower it with det_thresh, or switch the low-score rescue off with None)";
  }
  if (!(err = check("gating_threshold", o.gating_threshold, 0.0, INFINITY, true)).empty()) return err;
  if (!(err = check("frame_rate", o.frame_rate, 0.0, INFINITY, true)).empty()) return err;
  if (!(err = check("min_box_area", o.min_box_area, 0.0, INFINITY)).empty()) return err;
  // Kalman noise per px of box height: beyond [1e-6, 1e6] its squares over- or underflow on large or tiny boxes
  if (!(err = check("std_weight_position", o.std_weight_position, 1e-6, 1e6)).empty()) return err;
  if (!(err = check("std_weight_velocity", o.std_weight_velocity, 1e-6, 1e6)).empty()) return err;
  if (o.use_max_aspect_ratio && !(err = check("max_aspect_ratio", o.max_aspect_ratio, 0.0, INFINITY, true)).empty())
    return err;
  if (o.track_buffer < 0)
    return "TrackerOptions.track_buffer: expected an integer in [0, 2**63 - 1], got " + std::to_string(o.track_buffer);
  if (!(err = check_int("min_hits", o.min_hits, 2, kMaxMinHits)).empty()) return err;
  if (!(err = check_int("score_window", o.score_window, 1, kMaxScoreWindow)).empty()) return err;
  if (!(err = check("low_score_quantile", o.low_score_quantile, 0.0, 1.0)).empty()) return err;
  if (o.use_det_quantile) {
    if (!(err = check("det_quantile", o.det_quantile, 0.0, 1.0)).empty()) return err;
    if (o.low_score_quantile > o.det_quantile)
      return "TrackerOptions.low_score_quantile: expected <= det_quantile (" + fmt(o.det_quantile) + "), got " +
             fmt(o.low_score_quantile);
  }
  if (!(err = check("crowd_drop", o.crowd_drop, 0.0, INFINITY)).empty()) return err;
  if (o.crowd_drop > 0 && o.use_det_quantile)
    return "TrackerOptions.crowd_drop: expected 0 with det_quantile set (the drop is in score units: use "
           "det_quantile=None), got " + fmt(o.crowd_drop);
  if (!(err = check("crowd_low", o.crowd_low, 0.0, INFINITY)).empty()) return err;
  if (!(err = check("crowd_high", o.crowd_high, o.crowd_low, INFINITY, true)).empty()) return err;
  if (!(err = check_int("crowd_frames", o.crowd_frames, 1, kMaxCrowdFrames)).empty()) return err;
  if (!(err = check_int("max_detections", o.max_detections, 1, kMaxKeptDetections)).empty()) return err;
  return {};
}

}  // namespace mottrack

// The C API (include/mottrack.h) over mottrack::AssociationCore: validation as Tracker's, embedding
// normalisation, error codes + a per-thread message; no exception ever crosses the boundary.
#include "mottrack.h"

#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "association.hpp"
#include "frame_input.hpp"
#include "options.hpp"

struct mottrack_tracker {
  explicit mottrack_tracker(const mottrack::Options& o) : core(o) {}
  mottrack::AssociationCore core;
  std::int64_t embedding_dim = 0;  // D of earlier frames (0: none yet), as Tracker._embedding_dim
  std::vector<float> normalised;   // this frame's embeddings, L2-normalised
};

namespace {

thread_local std::string g_last_error;

mottrack_status fail(mottrack_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

#define MOTTRACK_REQUIRE(ptr, name)                                                    \
  do {                                                                                 \
    if ((ptr) == nullptr)                                                              \
      return fail(MOTTRACK_ERROR_NULL_POINTER, std::string(name) + ": expected a pointer, got NULL"); \
  } while (0)

// Run body, mapping C++ exceptions to status codes.
template <typename Body>
mottrack_status guarded(const char* where, Body body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(MOTTRACK_ERROR_OUT_OF_MEMORY, std::string(where) + ": out of memory");
  } catch (const std::invalid_argument& e) {
    return fail(MOTTRACK_ERROR_INVALID_ARGUMENT, e.what());
  } catch (const std::exception& e) {
    return fail(MOTTRACK_ERROR_INTERNAL, std::string(where) + ": internal error: " + e.what());
  } catch (...) {
    return fail(MOTTRACK_ERROR_INTERNAL, std::string(where) + ": internal error");
  }
}

mottrack::Options to_options(const mottrack_options& c) {
  mottrack::Options o;
  o.det_thresh = c.det_thresh;
  o.use_low_score = c.use_low_score_thresh != 0;
  o.low_score_thresh = c.low_score_thresh;
  o.embedding_thresh = c.embedding_thresh;
  o.motion_thresh = c.motion_thresh;
  o.iou_thresh = c.iou_thresh;
  o.low_score_iou_thresh = c.low_score_iou_thresh;
  o.tentative_iou_thresh = c.tentative_iou_thresh;
  o.fusion_weight = c.fusion_weight;
  o.gating = c.gating != 0;
  o.gating_threshold = c.gating_threshold;
  o.track_buffer = c.track_buffer;
  o.frame_rate = c.frame_rate;
  o.template_momentum = c.template_momentum;
  o.duplicate_iou = c.duplicate_iou;
  o.min_box_area = c.min_box_area;
  o.use_max_aspect_ratio = c.use_max_aspect_ratio != 0;
  o.max_aspect_ratio = c.max_aspect_ratio;
  o.std_weight_position = c.std_weight_position;
  o.std_weight_velocity = c.std_weight_velocity;
  o.min_hits = c.min_hits;
  o.use_det_quantile = c.use_det_quantile != 0;
  o.det_quantile = c.det_quantile;
  o.low_score_quantile = c.low_score_quantile;
  o.score_window = c.score_window;
  o.crowd_drop = c.crowd_drop;
  o.crowd_low = c.crowd_low;
  o.crowd_high = c.crowd_high;
  o.crowd_frames = c.crowd_frames;
  o.max_detections = c.max_detections;
  return o;
}

void to_c_track(const mottrack::FrameTracks& ft, std::size_t i, mottrack_track* out) {
  out->track_id = ft.track_id[i];
  for (int c = 0; c < 4; ++c) out->xyxy[c] = ft.xyxy[4 * i + c];
  out->score = ft.score[i];
  out->class_id = ft.class_id[i];
  out->hits = ft.hits[i];
  out->age = ft.age[i];
}

}  // namespace

extern "C" {

#define MOTTRACK_STR2(x) #x
#define MOTTRACK_STR(x) MOTTRACK_STR2(x)

const char* mottrack_version(void) {
  return MOTTRACK_STR(MOTTRACK_VERSION_MAJOR) "." MOTTRACK_STR(MOTTRACK_VERSION_MINOR) "." MOTTRACK_STR(
      MOTTRACK_VERSION_PATCH);
}

const char* mottrack_last_error(void) { return g_last_error.c_str(); }

const char* mottrack_status_name(mottrack_status status) {
  switch (status) {
    case MOTTRACK_OK: return "MOTTRACK_OK";
    case MOTTRACK_ERROR_NULL_POINTER: return "MOTTRACK_ERROR_NULL_POINTER";
    case MOTTRACK_ERROR_INVALID_ARGUMENT: return "MOTTRACK_ERROR_INVALID_ARGUMENT";
    case MOTTRACK_ERROR_INVALID_OPTIONS: return "MOTTRACK_ERROR_INVALID_OPTIONS";
    case MOTTRACK_ERROR_OUT_OF_RANGE: return "MOTTRACK_ERROR_OUT_OF_RANGE";
    case MOTTRACK_ERROR_BUFFER_TOO_SMALL: return "MOTTRACK_ERROR_BUFFER_TOO_SMALL";
    case MOTTRACK_ERROR_OUT_OF_MEMORY: return "MOTTRACK_ERROR_OUT_OF_MEMORY";
    case MOTTRACK_ERROR_INTERNAL: return "MOTTRACK_ERROR_INTERNAL";
  }
  return "MOTTRACK_UNKNOWN_STATUS";
}

mottrack_status mottrack_options_init(mottrack_options* options) {
  MOTTRACK_REQUIRE(options, "options");
  const mottrack::Options d;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(mottrack_options);
  options->det_thresh = d.det_thresh;
  options->use_low_score_thresh = d.use_low_score ? 1 : 0;
  options->low_score_thresh = d.low_score_thresh;
  options->embedding_thresh = d.embedding_thresh;
  options->motion_thresh = d.motion_thresh;
  options->iou_thresh = d.iou_thresh;
  options->low_score_iou_thresh = d.low_score_iou_thresh;
  options->tentative_iou_thresh = d.tentative_iou_thresh;
  options->fusion_weight = d.fusion_weight;
  options->gating = d.gating ? 1 : 0;
  options->gating_threshold = d.gating_threshold;
  options->track_buffer = d.track_buffer;
  options->frame_rate = d.frame_rate;
  options->template_momentum = d.template_momentum;
  options->duplicate_iou = d.duplicate_iou;
  options->min_box_area = d.min_box_area;
  options->use_max_aspect_ratio = d.use_max_aspect_ratio ? 1 : 0;
  options->max_aspect_ratio = d.max_aspect_ratio;
  options->std_weight_position = d.std_weight_position;
  options->std_weight_velocity = d.std_weight_velocity;
  options->min_hits = d.min_hits;
  options->use_det_quantile = d.use_det_quantile ? 1 : 0;
  options->det_quantile = d.det_quantile;
  options->low_score_quantile = d.low_score_quantile;
  options->score_window = d.score_window;
  options->crowd_drop = d.crowd_drop;
  options->crowd_low = d.crowd_low;
  options->crowd_high = d.crowd_high;
  options->crowd_frames = d.crowd_frames;
  options->max_detections = d.max_detections;
  return MOTTRACK_OK;
}

mottrack_status mottrack_create(const mottrack_options* options, mottrack_tracker** out) {
  MOTTRACK_REQUIRE(out, "out");
  *out = nullptr;
  MOTTRACK_REQUIRE(options, "options");
  if (options->struct_size != sizeof(mottrack_options))
    return fail(MOTTRACK_ERROR_INVALID_OPTIONS,
                "options.struct_size: expected " + std::to_string(sizeof(mottrack_options)) +
                    " (call mottrack_options_init first), got " + std::to_string(options->struct_size));
  const std::pair<const char*, int32_t> flags[] = {{"use_low_score_thresh", options->use_low_score_thresh},
                                                   {"gating", options->gating},
                                                   {"use_max_aspect_ratio", options->use_max_aspect_ratio},
                                                   {"use_det_quantile", options->use_det_quantile}};
  for (const auto& [name, value] : flags)
    if (value != 0 && value != 1)
      return fail(MOTTRACK_ERROR_INVALID_OPTIONS,
                  std::string("options.") + name + ": expected 0 or 1, got " + std::to_string(value));
  const mottrack::Options o = to_options(*options);
  const std::string err = mottrack::validate_options(o);
  if (!err.empty()) return fail(MOTTRACK_ERROR_INVALID_OPTIONS, err);
  return guarded("mottrack_create", [&] {
    *out = new mottrack_tracker(o);
    return MOTTRACK_OK;
  });
}

void mottrack_destroy(mottrack_tracker* tracker) { delete tracker; }

mottrack_status mottrack_reset(mottrack_tracker* tracker) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  tracker->core.reset();
  tracker->embedding_dim = 0;
  return MOTTRACK_OK;
}

mottrack_status mottrack_update(mottrack_tracker* tracker, const double* boxes_xyxy, const double* scores,
                                int64_t num_detections, const float* embeddings, int64_t embedding_dim,
                                const int64_t* classes, int64_t* num_tracks_out) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  const int64_t n = num_detections;
  if (n > 0) {  // required only when there are detections
    MOTTRACK_REQUIRE(boxes_xyxy, "boxes_xyxy");
    MOTTRACK_REQUIRE(scores, "scores");
  }
  const std::string err = mottrack::validate_frame(boxes_xyxy, scores, n, embeddings, embedding_dim,
                                                   tracker->embedding_dim);
  if (!err.empty()) return fail(MOTTRACK_ERROR_INVALID_ARGUMENT, err);
  return guarded("mottrack_update", [&] {
    const float* emb = nullptr;
    if (embeddings != nullptr && n > 0) {
      tracker->normalised.assign(embeddings, embeddings + n * embedding_dim);
      const std::string bad_row = mottrack::normalise_rows(tracker->normalised.data(), n, embedding_dim);
      if (!bad_row.empty()) return fail(MOTTRACK_ERROR_INVALID_ARGUMENT, bad_row);
      emb = tracker->normalised.data();
    }
    std::vector<int64_t> zeros;
    if (classes == nullptr && n > 0) {
      zeros.assign(static_cast<std::size_t>(n), 0);
      classes = zeros.data();
    }
    const mottrack::FrameTracks& ft =
        tracker->core.step(boxes_xyxy, scores, n, emb, emb != nullptr ? embedding_dim : 0, classes);
    if (emb != nullptr) tracker->embedding_dim = embedding_dim;
    if (num_tracks_out != nullptr) *num_tracks_out = static_cast<int64_t>(ft.size());
    return MOTTRACK_OK;
  });
}

mottrack_status mottrack_apply_camera_motion(mottrack_tracker* tracker, const double warp[6]) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  MOTTRACK_REQUIRE(warp, "warp");
  return guarded("mottrack_apply_camera_motion", [&] {
    tracker->core.apply_camera_motion(warp);  // std::invalid_argument -> INVALID_ARGUMENT
    return MOTTRACK_OK;
  });
}

mottrack_status mottrack_track_count(const mottrack_tracker* tracker, int64_t* count) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  MOTTRACK_REQUIRE(count, "count");
  *count = static_cast<int64_t>(tracker->core.last().size());
  return MOTTRACK_OK;
}

mottrack_status mottrack_get_track(const mottrack_tracker* tracker, int64_t index, mottrack_track* out) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  MOTTRACK_REQUIRE(out, "out");
  const mottrack::FrameTracks& ft = tracker->core.last();
  if (index < 0 || index >= static_cast<int64_t>(ft.size()))
    return fail(MOTTRACK_ERROR_OUT_OF_RANGE, "index: expected 0 <= index < " + std::to_string(ft.size()) +
                                                 ", got " + std::to_string(index));
  to_c_track(ft, static_cast<std::size_t>(index), out);
  return MOTTRACK_OK;
}

mottrack_status mottrack_get_tracks(const mottrack_tracker* tracker, mottrack_track* tracks, int64_t capacity,
                                    int64_t* count) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  MOTTRACK_REQUIRE(count, "count");
  const mottrack::FrameTracks& ft = tracker->core.last();
  const int64_t n = static_cast<int64_t>(ft.size());
  *count = n;
  if (capacity < 0) return fail(MOTTRACK_ERROR_INVALID_ARGUMENT, "capacity: expected >= 0, got " + std::to_string(capacity));
  if (capacity < n)
    return fail(MOTTRACK_ERROR_BUFFER_TOO_SMALL,
                "tracks: capacity " + std::to_string(capacity) + " is less than the " + std::to_string(n) + " tracks");
  if (n > 0) MOTTRACK_REQUIRE(tracks, "tracks");
  for (int64_t i = 0; i < n; ++i) to_c_track(ft, static_cast<std::size_t>(i), &tracks[i]);
  return MOTTRACK_OK;
}

mottrack_status mottrack_frame_id(const mottrack_tracker* tracker, int64_t* frame_id) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  MOTTRACK_REQUIRE(frame_id, "frame_id");
  *frame_id = tracker->core.frame_id();
  return MOTTRACK_OK;
}

mottrack_status mottrack_live_track_count(const mottrack_tracker* tracker, int64_t* count) {
  MOTTRACK_REQUIRE(tracker, "tracker");
  MOTTRACK_REQUIRE(count, "count");
  *count = static_cast<int64_t>(tracker->core.live_tracks());
  return MOTTRACK_OK;
}

}  // extern "C"

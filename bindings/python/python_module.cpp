// mottrack_sdk._native: pybind11 bindings of the C++ tracking core (bindings/src).
//
// NativeCore mirrors mottrack_sdk.tracking.core.AssociationCore: step(xyxy, scores, embeddings,
// classes) on already-validated arrays (Tracker normalises embeddings), returning the columns of
// FrameTracks, and apply_camera_motion(warp). lapjv() exposes the solver for the parity tests
// against lap.lapjv; default_options() the C++ defaults for the parity test with TrackerOptions.
// Reached from Python only through mottrack_sdk.tracking.native.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "association.hpp"
#include "frame_input.hpp"
#include "lap_solver.hpp"
#include "matching.hpp"
#include "options.hpp"

namespace py = pybind11;
using mottrack::AssociationCore;
using mottrack::FrameTracks;
using mottrack::Options;

namespace {

template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// An integer option as TrackerOptions takes it: an int (numpy integers too), not a bool or a float;
// anything else, or a value beyond int64, is refused with TrackerOptions' message (the range itself
// is checked by validate_options).
std::int64_t int_option(const std::string& key, py::handle v, const std::string& range) {
  if (!PyBool_Check(v.ptr()) && PyIndex_Check(v.ptr())) {
    const py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr()));
    int overflow = 0;
    const long long value = index ? PyLong_AsLongLongAndOverflow(index.ptr(), &overflow) : 0;
    if (index && !overflow && !PyErr_Occurred()) return value;
    PyErr_Clear();
  }
  throw py::value_error("TrackerOptions." + key + ": expected an integer in " + range + ", got " +
                        py::cast<std::string>(py::repr(v)));
}

// A number option as TrackerOptions takes it: a real number (numpy scalars too), not a bool, not a
// string, with TrackerOptions' message; NaN / inf and the range are validate_options' (in its order).
double number_option(const std::string& key, py::handle v) {
  if (!PyBool_Check(v.ptr()) && !PyUnicode_Check(v.ptr()) && !PyBytes_Check(v.ptr()) && PyNumber_Check(v.ptr())) {
    const double value = PyFloat_AsDouble(v.ptr());
    if (!(value == -1.0 && PyErr_Occurred())) return value;
    PyErr_Clear();
  }
  throw py::value_error("TrackerOptions." + key + ": expected a finite number, got " + py::cast<std::string>(py::repr(v)));
}

bool bool_option(const std::string& key, py::handle v) {
  if (PyBool_Check(v.ptr())) return v.ptr() == Py_True;
  if (py::isinstance(v, py::module_::import("numpy").attr("bool_"))) return py::cast<bool>(v);
  throw py::value_error("TrackerOptions." + key + ": expected True/False, got " + py::cast<std::string>(py::repr(v)));
}

std::string int_range(std::int64_t low, std::int64_t high) {
  return "[" + std::to_string(low) + ", " + std::to_string(high) + "]";
}

// Options from TrackerOptions' fields (dataclasses.asdict); unknown names are refused.
Options options_from_dict(const py::dict& d) {
  Options o;
  for (auto item : d) {
    if (!PyUnicode_Check(item.first.ptr()))
      throw py::value_error("NativeCore: option names are strings, got " + py::cast<std::string>(py::repr(item.first)));
    const std::string key = py::cast<std::string>(item.first);
    const py::handle v = item.second;
    if (key == "det_thresh") o.det_thresh = number_option(key, v);
    else if (key == "low_score_thresh") {
      o.use_low_score = !v.is_none();
      if (o.use_low_score) o.low_score_thresh = number_option(key, v);
    } else if (key == "embedding_thresh") o.embedding_thresh = number_option(key, v);
    else if (key == "motion_thresh") o.motion_thresh = number_option(key, v);
    else if (key == "iou_thresh") o.iou_thresh = number_option(key, v);
    else if (key == "low_score_iou_thresh") o.low_score_iou_thresh = number_option(key, v);
    else if (key == "tentative_iou_thresh") o.tentative_iou_thresh = number_option(key, v);
    else if (key == "fusion_weight") o.fusion_weight = number_option(key, v);
    else if (key == "gating") o.gating = bool_option(key, v);
    else if (key == "gating_threshold") o.gating_threshold = number_option(key, v);
    else if (key == "track_buffer") o.track_buffer = int_option(key, v, "[0, 2**63 - 1]");
    else if (key == "frame_rate") o.frame_rate = number_option(key, v);
    else if (key == "template_momentum") o.template_momentum = number_option(key, v);
    else if (key == "duplicate_iou") o.duplicate_iou = number_option(key, v);
    else if (key == "min_box_area") o.min_box_area = number_option(key, v);
    else if (key == "max_aspect_ratio") {
      o.use_max_aspect_ratio = !v.is_none();
      if (o.use_max_aspect_ratio) o.max_aspect_ratio = number_option(key, v);
    } else if (key == "std_weight_position") o.std_weight_position = number_option(key, v);
    else if (key == "std_weight_velocity") o.std_weight_velocity = number_option(key, v);
    else if (key == "min_hits") o.min_hits = int_option(key, v, int_range(2, mottrack::kMaxMinHits));
    else if (key == "det_quantile") {
      o.use_det_quantile = !v.is_none();
      if (o.use_det_quantile) o.det_quantile = number_option(key, v);
    } else if (key == "low_score_quantile") o.low_score_quantile = number_option(key, v);
    else if (key == "score_window") o.score_window = int_option(key, v, int_range(1, mottrack::kMaxScoreWindow));
    else if (key == "crowd_drop") o.crowd_drop = number_option(key, v);
    else if (key == "crowd_low") o.crowd_low = number_option(key, v);
    else if (key == "crowd_high") o.crowd_high = number_option(key, v);
    else if (key == "crowd_frames") o.crowd_frames = int_option(key, v, int_range(1, mottrack::kMaxCrowdFrames));
    else if (key == "max_detections") o.max_detections = int_option(key, v, int_range(1, mottrack::kMaxKeptDetections));
    else throw py::value_error("NativeCore: unknown option '" + key + "'");
  }
  const std::string err = mottrack::validate_options(o);
  if (!err.empty()) throw py::value_error(err);
  return o;
}

// Options{} as TrackerOptions' fields (None for an option that is off).
py::dict default_options() {
  const Options o;
  const auto maybe = [](bool on, double v) { return on ? py::object(py::float_(v)) : py::object(py::none()); };
  py::dict d;
  d["det_thresh"] = o.det_thresh;
  d["low_score_thresh"] = maybe(o.use_low_score, o.low_score_thresh);
  d["embedding_thresh"] = o.embedding_thresh;
  d["motion_thresh"] = o.motion_thresh;
  d["iou_thresh"] = o.iou_thresh;
  d["low_score_iou_thresh"] = o.low_score_iou_thresh;
  d["tentative_iou_thresh"] = o.tentative_iou_thresh;
  d["fusion_weight"] = o.fusion_weight;
  d["gating"] = o.gating;
  d["gating_threshold"] = o.gating_threshold;
  d["track_buffer"] = o.track_buffer;
  d["frame_rate"] = o.frame_rate;
  d["template_momentum"] = o.template_momentum;
  d["duplicate_iou"] = o.duplicate_iou;
  d["min_box_area"] = o.min_box_area;
  d["max_aspect_ratio"] = maybe(o.use_max_aspect_ratio, o.max_aspect_ratio);
  d["std_weight_position"] = o.std_weight_position;
  d["std_weight_velocity"] = o.std_weight_velocity;
  d["min_hits"] = o.min_hits;
  d["det_quantile"] = maybe(o.use_det_quantile, o.det_quantile);
  d["low_score_quantile"] = o.low_score_quantile;
  d["score_window"] = o.score_window;
  d["crowd_drop"] = o.crowd_drop;
  d["crowd_low"] = o.crowd_low;
  d["crowd_high"] = o.crowd_high;
  d["crowd_frames"] = o.crowd_frames;
  d["max_detections"] = o.max_detections;
  return d;
}

template <typename T>
py::array_t<T> to_array(const std::vector<T>& v, py::ssize_t rows, py::ssize_t cols = 0) {
  py::array_t<T> out = cols ? py::array_t<T>({rows, cols}) : py::array_t<T>(rows);
  if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(T));
  return out;
}

class NativeCore {
 public:
  NativeCore(const py::dict& options, std::size_t max_window_pairs, int max_solver_side)
      : core_(options_from_dict(options)) {
    core_.set_limits(max_window_pairs, max_solver_side);
  }

  py::tuple step(const CArray<double>& xyxy, const CArray<double>& scores, const py::object& embeddings,
                 const CArray<std::int64_t>& classes) {
    if (xyxy.ndim() != 2 || xyxy.shape(1) != 4)
      throw py::value_error("xyxy: expected shape (N, 4)");
    const py::ssize_t n = xyxy.shape(0);
    if (scores.ndim() != 1 || scores.shape(0) != n) throw py::value_error("scores: expected shape (N,)");
    if (classes.ndim() != 1 || classes.shape(0) != n) throw py::value_error("classes: expected shape (N,)");
    CArray<float> emb;
    const float* emb_ptr = nullptr;
    std::int64_t dim = 0;
    if (!embeddings.is_none()) {
      emb = CArray<float>::ensure(embeddings);
      if (!emb || emb.ndim() != 2 || emb.shape(0) != n)
        throw py::value_error("embeddings: expected shape (N, D) float32 or None");
      emb_ptr = emb.data();
      dim = emb.shape(1);
    }
    // Boxes and scores are checked again (a NaN box must not reach the sweeps); embedding values are
    // not: Tracker already checked them, and a NaN one could only make costs NaN, which never match.
    if (emb_ptr != nullptr && n > 0 && (dim <= 0 || dim > mottrack::kMaxEmbeddingDim))
      throw py::value_error("embeddings: expected shape (N, D) with 1 <= D <= " +
                            std::to_string(mottrack::kMaxEmbeddingDim));
    const std::string err = mottrack::validate_frame(xyxy.data(), scores.data(), n, nullptr, 0, 0);
    if (!err.empty()) throw py::value_error(err);
    // The GIL is released while the frame runs, so a mutex keeps one call at a time on this core; it
    // is held until the output is copied. Every method takes it only after releasing the GIL.
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    const FrameTracks* ft = nullptr;
    std::string step_error;
    {
      py::gil_scoped_release release;
      lock.lock();
      try {
        ft = &core_.step(xyxy.data(), scores.data(), n, emb_ptr, dim, classes.data());
      } catch (const std::invalid_argument& e) {
        step_error = e.what();
      }
    }
    if (ft == nullptr) throw py::value_error(step_error);
    const py::ssize_t t = static_cast<py::ssize_t>(ft->size());
    return py::make_tuple(to_array(ft->track_id, t), to_array(ft->xyxy, t, 4), to_array(ft->score, t),
                          to_array(ft->class_id, t), to_array(ft->hits, t), to_array(ft->age, t));
  }

  void apply_camera_motion(const CArray<double>& warp) {
    if (warp.ndim() != 2 || warp.shape(0) != 2 || warp.shape(1) != 3)
      throw py::value_error("warp: expected a (2, 3) array [R | t]");
    std::string error;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      try {
        core_.apply_camera_motion(warp.data());
      } catch (const std::invalid_argument& e) {
        error = e.what();
      }
    }
    if (!error.empty()) throw py::value_error(error);
  }

  void reset() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    core_.reset();
  }
  std::int64_t frame_id() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    return core_.frame_id();
  }
  std::size_t live_tracks() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mutex_);
    return core_.live_tracks();
  }

 private:
  AssociationCore core_;
  std::mutex mutex_;
};

// lap.lapjv(cost, extend_cost=True, cost_limit=limit) -> (x, y), with the native solver.
py::tuple lapjv(const CArray<double>& cost, double cost_limit) {
  if (cost.ndim() != 2) throw py::value_error("cost: expected a 2-D array");
  if (cost.shape(0) > mottrack::kMaxSolverSide || cost.shape(1) > mottrack::kMaxSolverSide)
    throw py::value_error("cost: at most " + std::to_string(mottrack::kMaxSolverSide) +
                          " rows and columns (the solver extends the matrix to a square: side² memory), got " +
                          std::to_string(cost.shape(0)) + "x" + std::to_string(cost.shape(1)));
  const int rows = static_cast<int>(cost.shape(0)), cols = static_cast<int>(cost.shape(1));
  for (py::ssize_t i = 0; i < cost.size(); ++i)
    if (!std::isfinite(cost.data()[i])) throw py::value_error("cost: expected finite values");
  if (std::isnan(cost_limit)) throw py::value_error("cost_limit: expected a number, got NaN");
  std::vector<int> x, y;
  {
    py::gil_scoped_release release;
    mottrack::LapSolver solver;
    solver.solve(rows, cols, cost.data(), cost_limit, x, y);
  }
  return py::make_tuple(to_array(x, rows), to_array(y, cols));
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "Native (C++) tracking core of mottrack_sdk; use it through mottrack_sdk.tracking.native.";
  py::class_<NativeCore>(m, "NativeCore")
      .def(py::init<const py::dict&, std::size_t, int>(), py::arg("options"),
           py::arg("max_window_pairs") = mottrack::kMaxWindowPairs, py::arg("max_solver_side") = mottrack::kMaxSolverSide)
      .def("step", &NativeCore::step, py::arg("xyxy"), py::arg("scores"), py::arg("embeddings"),
           py::arg("classes"),
           "One frame on validated arrays -> (track_id, xyxy, score, class_id, hits, age) columns.")
      .def("apply_camera_motion", &NativeCore::apply_camera_motion, py::arg("warp"),
           "Move every track's Kalman state by the (2, 3) float64 camera warp [R | t]; before step().")
      .def("reset", &NativeCore::reset)
      .def_property_readonly("frame_id", &NativeCore::frame_id)
      .def_property_readonly("live_tracks", &NativeCore::live_tracks);
  m.def("lapjv", &lapjv, py::arg("cost"), py::arg("cost_limit") = INFINITY,
        "lap.lapjv(cost, extend_cost=True, cost_limit=...) -> (x, y) with the native JV solver.");
  m.def("default_options", &default_options, "The C++ (and C API) option defaults, as TrackerOptions fields.");
  m.attr("MAX_WINDOW_PAIRS") = mottrack::kMaxWindowPairs;  // = matching.MAX_WINDOW_PAIRS (tested)
  m.attr("MAX_SOLVER_SIDE") = mottrack::kMaxSolverSide;
  m.attr("__version__") = "0.1.0";
}

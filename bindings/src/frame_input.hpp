// Checks and normalisation of one frame's detections, as mottrack_sdk.tracking.validation does for
// Tracker.update_detections; every message names the argument. Used by the C API (which also
// normalises embeddings) and by the Python module (whose inputs Python already normalised).
#pragma once

#include <cstdint>
#include <string>

namespace mottrack {

constexpr std::int64_t kMaxDetections = 1 << 24;    // keeps every index and size in range
constexpr std::int64_t kMaxEmbeddingDim = 1 << 16;
constexpr double kF32Max = 3.4028234663852886e38;  // validation.F32_MAX: box coordinates stay within +-this

/// Empty when valid, else a message. boxes (n, 4) xyxy, finite, x2 > x1, y2 > y1; scores (n,)
/// finite; embeddings (n, dim) finite or null; expected_dim: D of earlier frames (0: none yet).
/// Null pointers are allowed only when n == 0 (embeddings: always, meaning "no embeddings").
std::string validate_frame(const double* boxes, const double* scores, std::int64_t n, const float* embeddings,
                           std::int64_t dim, std::int64_t expected_dim);

/// L2-normalise rows (n, dim) in place, as rows / np.linalg.norm(rows, axis=1) in float32.
/// Returns "" when every row was normalised, else the message of the first row whose norm is 0 or
/// overflows float32 (as validation.embedding_row_problem words it); rows before it are normalised.
std::string normalise_rows(float* rows, std::int64_t n, std::int64_t dim);

/// np.linalg.norm of a float32 vector: sqrt of numpy's pairwise sum of squares, all in float32.
float l2_norm_f32(const float* v, std::int64_t n);

/// Template EMA, all in float32 as numpy computes it: t = m·t + (1 − m)·e, then t / ||t||
/// (np.linalg.norm's pairwise order). scratch holds n floats.
void update_template(float* templ, const float* embedding, float momentum, std::int64_t n, float* scratch);

/// Dot product of float32 vectors, accumulated in double and rounded to float32.
float dot_f32(const float* a, const float* b, std::int64_t n);

/// Sum of squares of a float32 vector in double (relative error ~n * 1e-16; for bounds, not results).
double squared_norm(const float* v, std::int64_t n);

}  // namespace mottrack

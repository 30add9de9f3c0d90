// See frame_input.hpp.
#include "frame_input.hpp"

#include <cmath>
#include <cstring>
#include <sstream>

// x86-64: also compile the hot float loops for AVX2 and pick the variant at load time (ifunc). Same
// operations in the same order either way (no FMA contraction), so the results are identical.
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
#define MOTTRACK_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MOTTRACK_SIMD_CLONES
#endif

namespace mottrack {
namespace {

// numpy's pairwise summation (loops_utils.h: blocks of <= 128 with 8 accumulators, halves split on a
// multiple of 8), in float32, of term(i); for the norm the terms are the float32 squares.
template <typename Term>
float pairwise_sum(Term term, std::int64_t lo, std::int64_t n) {
  if (n < 8) {
    float res = 0.0f;
    for (std::int64_t i = 0; i < n; ++i) res += term(lo + i);
    return res;
  }
  if (n <= 128) {
    float r[8];
    for (int k = 0; k < 8; ++k) r[k] = term(lo + k);
    std::int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int k = 0; k < 8; ++k) r[k] += term(lo + i + k);
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += term(lo + i);
    return res;
  }
  std::int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(term, lo, n2) + pairwise_sum(term, lo + n2, n - n2);
}

std::string row_text(const double* row) {
  std::ostringstream s;
  s.precision(17);
  s << "[" << row[0] << ", " << row[1] << ", " << row[2] << ", " << row[3] << "]";
  return s.str();
}

}  // namespace

float l2_norm_f32(const float* v, std::int64_t n) {
  // add.reduce starts from the identity 0, then adds the pairwise sum of the row.
  const float sum = pairwise_sum([v](std::int64_t i) { return v[i] * v[i]; }, 0, n);
  return std::sqrt(0.0f + sum);
}

MOTTRACK_SIMD_CLONES
void update_template(float* templ, const float* embedding, float momentum, std::int64_t n, float* scratch) {
  const float keep_new = 1.0f - momentum;
  for (std::int64_t k = 0; k < n; ++k) {
    const float a = momentum * templ[k];
    const float b = keep_new * embedding[k];
    scratch[k] = a + b;
  }
  const float norm = std::sqrt(0.0f + pairwise_sum([scratch](std::int64_t i) { return scratch[i] * scratch[i]; }, 0, n));
  for (std::int64_t k = 0; k < n; ++k) templ[k] = scratch[k] / norm;
}

namespace {

// float32 x float32 products are exact in double; eight independent double sums (vectorisable, no
// FMA needed) give the dot product to within a few double ulps.
inline double dot_f64(const float* a, const float* b, std::int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(a[i + k]) * static_cast<double>(b[i + k]);
  double tail = 0.0;
  for (; i < n; ++i) tail += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

}  // namespace

MOTTRACK_SIMD_CLONES
float dot_f32(const float* a, const float* b, std::int64_t n) {
  return static_cast<float>(dot_f64(a, b, n));  // one final rounding: within float32's last bit
}

MOTTRACK_SIMD_CLONES
double squared_norm(const float* v, std::int64_t n) { return dot_f64(v, v, n); }

std::string normalise_rows(float* rows, std::int64_t n, std::int64_t dim) {
  for (std::int64_t i = 0; i < n; ++i) {
    float* row = rows + i * dim;
    const float norm = l2_norm_f32(row, dim);
    if (!(norm > 0.0f) || !std::isfinite(norm)) {  // validation.embedding_row_problem, same words
      const std::string r = std::to_string(i);
      if (norm > 0.0f)
        return "embeddings: row " + r + " overflows float32 (the sum of its squares exceeds 3.4e38); scale the "
               "embeddings down";
      for (std::int64_t k = 0; k < dim; ++k)
        if (row[k] != 0.0f)
          return "embeddings: row " + r + " underflows float32 (its squares round to 0 although it has non-zero "
                 "values); scale the embeddings up";
      return "embeddings: expected non-zero rows, row " + r + " is all zeros";
    }
    for (std::int64_t k = 0; k < dim; ++k) row[k] = row[k] / norm;
  }
  return {};
}

std::string validate_frame(const double* boxes, const double* scores, std::int64_t n, const float* embeddings,
                           std::int64_t dim, std::int64_t expected_dim) {
  if (n < 0) return "num_detections: expected a count >= 0, got " + std::to_string(n);
  if (n > kMaxDetections)
    return "num_detections: expected at most " + std::to_string(kMaxDetections) + ", got " + std::to_string(n);
  if (embeddings != nullptr && (dim < 0 || dim > kMaxEmbeddingDim))  // checked with no detections too
    return "embeddings: expected dimension D in [1, " + std::to_string(kMaxEmbeddingDim) + "], got " +
           std::to_string(dim);
  if (n == 0) return {};
  if (boxes == nullptr) return "boxes_xyxy: expected a pointer to N*4 float64 [x1, y1, x2, y2], got NULL";
  if (scores == nullptr) return "scores: expected a pointer to N float64 scores, got NULL";
  for (std::int64_t i = 0; i < n; ++i) {
    const double* b = boxes + 4 * i;
    if (!(std::isfinite(b[0]) && std::isfinite(b[1]) && std::isfinite(b[2]) && std::isfinite(b[3])))
      return "boxes_xyxy: expected finite values, row " + std::to_string(i) + " is " + row_text(b);
  }
  // validation.check_boxes: coordinates inside float32's range, so the Kalman arithmetic cannot overflow
  for (std::int64_t i = 0; i < n; ++i) {
    const double* b = boxes + 4 * i;
    if (!(std::fabs(b[0]) <= kF32Max && std::fabs(b[1]) <= kF32Max && std::fabs(b[2]) <= kF32Max &&
          std::fabs(b[3]) <= kF32Max))
      return "boxes_xyxy: expected coordinates within \u00b13.402823e+38 (the float32 range; larger ones overflow "
             "the tracker's arithmetic), row " + std::to_string(i) + " is " + row_text(b);
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const double* b = boxes + 4 * i;
    if (!(b[2] > b[0]) || !(b[3] > b[1]))
      return "boxes_xyxy: expected x2 > x1 and y2 > y1 (positive width and height), row " + std::to_string(i) +
             " is " + row_text(b);
  }
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isfinite(scores[i]))
      return "scores: expected finite values, got NaN or inf at index " + std::to_string(i);
  if (embeddings == nullptr) return {};
  if (dim <= 0 || dim > kMaxEmbeddingDim)
    return "embeddings: expected dimension D in [1, " + std::to_string(kMaxEmbeddingDim) + "], got " +
           std::to_string(dim);
  if (expected_dim > 0 && dim != expected_dim)
    return "embeddings: expected dimension D=" + std::to_string(expected_dim) + " (as in earlier frames), got " +
           std::to_string(dim);
  // NaN and inf are the floats whose exponent bits are all ones: an OR over one (vectorisable) pass
  std::uint32_t non_finite = 0;
  for (std::int64_t i = 0; i < n * dim; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &embeddings[i], sizeof bits);
    non_finite |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (non_finite) return "embeddings: expected finite values, got NaN or inf";
  return {};
}

}  // namespace mottrack

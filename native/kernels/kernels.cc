// Feature extraction's hot loops in C++ (src/data/nativeKernels.ts loads them):
//   Mfcc        the MFCC of src/data/frontend.ts, on tables computed by the JS side (window,
//               twiddles, mel weights, DCT);
//   encodeInt8  the int8 block codes of src/prune/features/codec.ts;
//   affine      the bilinear affine warp of src/data/augment-image.ts (VWW augmentation).
// Each is the JS arithmetic in the same order, with floating-point contraction off, so the
// results equal the JS ones bit for bit; only the MFCC's logarithm is the C library's instead of
// V8's (both within an ulp). test/mfcc.test.ts and test/features.test.ts compare them.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace {

template <typename T>
std::vector<T> copyOf(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), std::string("mfcc plan: ") + what + " must be a typed array");
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

class Mfcc : public Napi::ObjectWrap<Mfcc> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Mfcc", {InstanceMethod("run", &Mfcc::Run)});
  }

  // new Mfcc({ size, frameStep, frames, coefficients, maxBin, window, bitrev, cosHalf, sinHalf,
  //            cosFull, sinFull, melFirst, melStart, melWeights, dct })
  explicit Mfcc(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Mfcc>(info) {
    auto p = info[0].As<Napi::Object>();
    auto num = [&](const char* k) { return p.Get(k).As<Napi::Number>().Int32Value(); };
    size_ = num("size");
    half_ = size_ / 2;
    frameStep_ = num("frameStep");
    frames_ = num("frames");
    coefficients_ = num("coefficients");
    maxBin_ = num("maxBin");
    window_ = copyOf<double>(p.Get("window"), "window");
    bitrev_ = copyOf<uint32_t>(p.Get("bitrev"), "bitrev");
    cosHalf_ = copyOf<double>(p.Get("cosHalf"), "cosHalf");
    sinHalf_ = copyOf<double>(p.Get("sinHalf"), "sinHalf");
    cosFull_ = copyOf<double>(p.Get("cosFull"), "cosFull");
    sinFull_ = copyOf<double>(p.Get("sinFull"), "sinFull");
    melFirst_ = copyOf<int32_t>(p.Get("melFirst"), "melFirst");
    melStart_ = copyOf<int32_t>(p.Get("melStart"), "melStart");
    melWeights_ = copyOf<double>(p.Get("melWeights"), "melWeights");
    dct_ = copyOf<double>(p.Get("dct"), "dct");
    melBins_ = static_cast<int>(melFirst_.size());
    // The two-stage packing below needs an even stage count (512: 8 stages) and a window as
    // long as the FFT; the JS side only builds a plan when that holds.
    int bits = 0;
    while ((1 << bits) < half_) bits++;
    if ((1 << bits) != half_ || bits % 2 != 0 || bits < 2 || static_cast<int>(window_.size()) != size_ ||
        static_cast<int>(bitrev_.size()) != half_ || maxBin_ >= half_ ||
        static_cast<int>(melStart_.size()) != melBins_ + 1 ||
        static_cast<int>(dct_.size()) != coefficients_ * melBins_ || coefficients_ > kMaxCoefficients)
      throw Napi::RangeError::New(info.Env(), "mfcc plan: inconsistent tables");
    re_.assign(half_, V{});
    im_.assign(half_, V{});
    outRe_.assign(maxBin_ + 1, V{});
    outIm_.assign(maxBin_ + 1, V{});
    magnitude_.assign(maxBin_ + 1, V{});
    logMel_.assign(melBins_, V{});
  }

 private:
  /** Frames per pass: the lanes of V. */
  static constexpr int B = 2;
  static constexpr int kMaxCoefficients = 64;
  typedef double V __attribute__((vector_size(8 * B)));

  // run(samples: Float32Array, out: Float32Array): out[f · coefficients + c].
  Napi::Value Run(const Napi::CallbackInfo& info) {
    auto samples = info[0].As<Napi::Float32Array>();
    auto out = info[1].As<Napi::Float32Array>();
    const size_t need = static_cast<size_t>((frames_ - 1) * frameStep_ + size_);
    if (samples.ElementLength() < need || out.ElementLength() != static_cast<size_t>(frames_ * coefficients_))
      throw Napi::RangeError::New(info.Env(), "mfcc: wrong sample or output length");
    const float* x = samples.Data();
    float* result = out.Data();
    // B frames at a time, one per lane of V: each lane's arithmetic is exactly the one-frame
    // sequence of the JS version (IEEE operations lane by lane, no contraction). A last group
    // short of B frames repeats the last frame in its spare lanes.
    const float* frame[B];
    V* magnitude = magnitude_.data();
    V* logMel = logMel_.data();
    const double* weights = melWeights_.data();
    for (int f0 = 0; f0 < frames_; f0 += B) {
      for (int b = 0; b < B; b++) frame[b] = x + std::min(f0 + b, frames_ - 1) * frameStep_;
      spectrum(frame);
      const V *re = outRe_.data(), *im = outIm_.data();
      for (int k = 1; k <= maxBin_; k++) {
        const V p = re[k] * re[k] + im[k] * im[k];
        V r;
        for (int b = 0; b < B; b++) r[b] = std::sqrt(p[b]);
        magnitude[k] = r;
      }
      for (int m = 0; m < melBins_; m++) {
        const int from = melStart_[m], to = melStart_[m + 1], shift = melFirst_[m] - from;
        V acc = {};
        for (int j = from; j < to; j++) acc += weights[j] * magnitude[shift + j];
        V l;
        for (int b = 0; b < B; b++) l[b] = std::log(acc[b] + 1e-6);
        logMel[m] = l;
      }
      // All coefficients at once (each still sums over m in order): independent dependency
      // chains instead of one at a time.
      V acc[kMaxCoefficients] = {};
      for (int m = 0; m < melBins_; m++)
        for (int c = 0; c < coefficients_; c++) acc[c] += dct_[c * melBins_ + m] * logMel[m];
      for (int c = 0; c < coefficients_; c++)
        for (int b = 0; b < B && f0 + b < frames_; b++)
          result[(f0 + b) * coefficients_ + c] = static_cast<float>(acc[c][b]);
    }
    return info.Env().Undefined();
  }

  /** Lane b: frame[b][i], as double. */
  static V gather(const float* const* frame, int i) {
    V v;
    for (int b = 0; b < B; b++) v[b] = frame[b][i];
    return v;
  }

  // RealFft.transformWindowed's two-stage packing, butterflies(2) and split, bins 0..maxBin,
  // for B frames (lane b: frame[b]).
  void spectrum(const float* const* frame) {
    V* re = re_.data();
    V* im = im_.data();
    const double* w = window_.data();
    const int half = half_, q = half / 2;
    const double c1 = cosHalf_[half / 4], s1 = sinHalf_[half / 4], c0 = cosHalf_[0], s0 = sinHalf_[0];
    for (int a = 0; a < half; a += 4) {
      const int e = 2 * static_cast<int>(bitrev_[a]);
      const V p0r = gather(frame, e) * w[e], p0i = gather(frame, e + 1) * w[e + 1];
      const V p1r = gather(frame, e + half) * w[e + half], p1i = gather(frame, e + half + 1) * w[e + half + 1];
      const V p2r = gather(frame, e + q) * w[e + q], p2i = gather(frame, e + q + 1) * w[e + q + 1];
      const V p3r = gather(frame, e + q + half) * w[e + q + half];
      const V p3i = gather(frame, e + q + half + 1) * w[e + q + half + 1];
      const V a0r = p0r + p1r, a0i = p0i + p1i, a1r = p0r - p1r, a1i = p0i - p1i;
      const V a2r = p2r + p3r, a2i = p2i + p3i, a3r = p2r - p3r, a3i = p2i - p3i;
      V xr = a2r * c0 - a2i * s0;
      V xi = a2r * s0 + a2i * c0;
      re[a] = a0r + xr;
      im[a] = a0i + xi;
      re[a + 2] = a0r - xr;
      im[a + 2] = a0i - xi;
      xr = a3r * c1 - a3i * s1;
      xi = a3r * s1 + a3i * c1;
      re[a + 1] = a1r + xr;
      im[a + 1] = a1i + xi;
      re[a + 3] = a1r - xr;
      im[a + 3] = a1i - xi;
    }
    for (int len = 8; 2 * len <= half; len <<= 2) {
      const int h = len >> 1, step1 = half / len, step2 = step1 >> 1;
      for (int k = 0; k < h; k++) {
        const double w1r = cosHalf_[k * step1], w1i = sinHalf_[k * step1];
        const double w2r = cosHalf_[k * step2], w2i = sinHalf_[k * step2];
        const double w3r = cosHalf_[(k + h) * step2], w3i = sinHalf_[(k + h) * step2];
        for (int i0 = k; i0 < half; i0 += 2 * len) {
          const int i1 = i0 + h, i2 = i1 + h, i3 = i2 + h;
          V br = re[i1], bi = im[i1];
          V xr = br * w1r - bi * w1i;
          V xi = br * w1i + bi * w1r;
          const V r0 = re[i0], j0 = im[i0];
          const V a0r = r0 + xr, a0i = j0 + xi, a1r = r0 - xr, a1i = j0 - xi;
          br = re[i3];
          bi = im[i3];
          xr = br * w1r - bi * w1i;
          xi = br * w1i + bi * w1r;
          const V r2 = re[i2], j2 = im[i2];
          const V a2r = r2 + xr, a2i = j2 + xi, a3r = r2 - xr, a3i = j2 - xi;
          xr = a2r * w2r - a2i * w2i;
          xi = a2r * w2i + a2i * w2r;
          re[i2] = a0r - xr;
          im[i2] = a0i - xi;
          re[i0] = a0r + xr;
          im[i0] = a0i + xi;
          xr = a3r * w3r - a3i * w3i;
          xi = a3r * w3i + a3i * w3r;
          re[i3] = a1r - xr;
          im[i3] = a1i - xi;
          re[i1] = a1r + xr;
          im[i1] = a1i + xi;
        }
      }
    }
    // Split (maxBin < half): bin 0 pairs Z[0] with itself, bin k Z[k] with conj(Z[half - k]).
    V* outRe = outRe_.data();
    V* outIm = outIm_.data();
    {
      const V r0 = re[0], i0 = im[0];
      const V oi = -0.5 * (r0 - r0);
      outRe[0] = r0 + i0 * cosFull_[0] - oi * sinFull_[0];
      outIm[0] = 0.5 * (i0 - i0) + i0 * sinFull_[0] + oi * cosFull_[0];
    }
    for (int k = 1; k <= maxBin_; k++) {
      const double wr = cosFull_[k], wi = sinFull_[k];
      const V zr = re[k], zi = im[k], cr = re[half - k], ci = -im[half - k];
      const V er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
      const V or_ = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);
      outRe[k] = er + or_ * wr - oi * wi;
      outIm[k] = ei + or_ * wi + oi * wr;
    }
  }

  int size_, half_, frameStep_, frames_, coefficients_, maxBin_, melBins_;
  std::vector<double> window_, cosHalf_, sinHalf_, cosFull_, sinFull_, melWeights_, dct_;
  std::vector<uint32_t> bitrev_;
  std::vector<int32_t> melFirst_, melStart_;
  std::vector<V> re_, im_, outRe_, outIm_, magnitude_, logMel_;
};

// Math.round(t) clamped to 0..255, NaN to 0: codec.ts's roundCode, step for step.
inline uint8_t roundCode(double t) {
  if (!(t >= -0.5)) return 0;
  if (t >= 255.5) return 255;
  const int q = static_cast<int>(t + 0.5);
  return static_cast<uint8_t>(q - 0.5 > t ? q - 1 : q);
}

// encodeInt8(x: Float32Array, channels, out: Uint8Array): [lo (f32) × C][step (f32) × C][codes].
void EncodeInt8(const Napi::CallbackInfo& info) {
  auto xs = info[0].As<Napi::Float32Array>();
  const int channels = info[1].As<Napi::Number>().Int32Value();
  auto out = info[2].As<Napi::Uint8Array>();
  const size_t n = xs.ElementLength();
  if (channels <= 0 || n % channels != 0 || out.ByteLength() != 8 * static_cast<size_t>(channels) + n ||
      out.ByteOffset() % 4 != 0)
    throw Napi::RangeError::New(info.Env(), "encodeInt8: wrong channel count or output size");
  const float* x = xs.Data();
  // Minima and maxima of float32 values are float32 values: compared as floats (the selects
  // vectorise), used as doubles below as the JS does.
  std::vector<float> lo32(channels, INFINITY), hi32(channels, -INFINITY);
  float* l = lo32.data();
  float* h = hi32.data();
  for (size_t i = 0; i < n; i += channels) {
    const float* row = x + i;
    for (int c = 0; c < channels; c++) {
      l[c] = row[c] < l[c] ? row[c] : l[c];
      h[c] = row[c] > h[c] ? row[c] : h[c];
    }
  }
  std::vector<double> lo(channels), inv(channels);
  float* head = reinterpret_cast<float*>(out.Data());
  for (int c = 0; c < channels; c++) {
    double lc = l[c], hc = h[c];
    if (!std::isfinite(lc)) lc = hc = 0;
    const float step = static_cast<float>(hc > lc ? (hc - lc) / 255 : 1);
    lo[c] = lc;
    inv[c] = static_cast<float>(1 / static_cast<double>(step));
    head[c] = static_cast<float>(lc);
    head[channels + c] = step;
  }
  uint8_t* codes = out.Data() + 8 * channels;
  const double* lp = lo.data();
  const double* ip = inv.data();
  for (size_t i = 0; i < n; i += channels) {
    const float* row = x + i;
    uint8_t* dst = codes + i;
    for (int c = 0; c < channels; c++) dst[c] = roundCode((row[c] - lp[c]) * ip[c]);
  }
}

// affine(img: Float32Array, h, w, c, m: Float64Array [a, b, d, e, sr, sc], flip, out):
// augment-image.ts's applyAffine on the matrix and shift it computed.
void Affine(const Napi::CallbackInfo& info) {
  auto img = info[0].As<Napi::Float32Array>();
  const int h = info[1].As<Napi::Number>().Int32Value();
  const int w = info[2].As<Napi::Number>().Int32Value();
  const int c = info[3].As<Napi::Number>().Int32Value();
  auto m = info[4].As<Napi::Float64Array>();
  const bool flip = info[5].As<Napi::Boolean>().Value();
  auto outArr = info[6].As<Napi::Float32Array>();
  const size_t n = static_cast<size_t>(h) * w * c;
  if (h <= 0 || w <= 0 || c <= 0 || img.ElementLength() != n || outArr.ElementLength() != n || m.ElementLength() != 6)
    throw Napi::RangeError::New(info.Env(), "affine: wrong image, matrix or output size");
  const float* in = img.Data();
  float* out = outArr.Data();
  const double a = m[0], b = m[1], d = m[2], e = m[3], sr = m[4], sc = m[5];
  const double cr = h / 2.0 - 0.5, cc = w / 2.0 - 0.5;
  const double hMax = h - 1, wMax = w - 1;
  // Math.min(Math.max(v, 0), max) for finite v (−0 becomes +0, as Math.max gives).
  auto clamp = [](double v, double max) {
    v = v > 0 ? v : 0.0;
    return v < max ? v : max;
  };
  for (int r = 0; r < h; r++) {
    for (int col = 0; col < w; col++) {
      const double y = r - cr, x = col - cc;
      const double ir = clamp(a * y + b * x + sr + cr, hMax);
      const double ic = clamp(d * y + e * x + sc + cc, wMax);
      // Both are ≥ 0 here, so truncation is Math.floor (std::floor is a libm call on baseline x86-64).
      const int r0 = static_cast<int>(ir), c0 = static_cast<int>(ic);
      const int r1 = std::min(r0 + 1, h - 1), c1 = std::min(c0 + 1, w - 1);
      const double fr = ir - r0, fc = ic - c0;
      const int outCol = flip ? w - 1 - col : col;
      float* o = out + (static_cast<size_t>(r) * w + outCol) * c;
      const float* p00 = in + (static_cast<size_t>(r0) * w + c0) * c;
      const float* p01 = in + (static_cast<size_t>(r0) * w + c1) * c;
      const float* p10 = in + (static_cast<size_t>(r1) * w + c0) * c;
      const float* p11 = in + (static_cast<size_t>(r1) * w + c1) * c;
      for (int k = 0; k < c; k++) {
        const double v00 = p00[k], v01 = p01[k], v10 = p10[k], v11 = p11[k];
        o[k] = static_cast<float>((v00 * (1 - fc) + v01 * fc) * (1 - fr) + (v10 * (1 - fc) + v11 * fc) * fr);
      }
    }
  }
}

// Hands the C heap's free memory back to the system (glibc: malloc_trim; elsewhere nothing).
// After a phase with many threads (extraction's workers, the ONNX sessions) glibc keeps what
// they freed in its arenas, and the resident size stays at that phase's peak for the rest of
// the run. Returns whether anything was released.
Napi::Value TrimHeap(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("affine", Napi::Function::New(env, Affine));
  exports.Set("trimHeap", Napi::Function::New(env, TrimHeap));
  exports.Set("Mfcc", Mfcc::Init(env));
  exports.Set("encodeInt8", Napi::Function::New(env, EncodeInt8));
  return exports;
}

}  // namespace

NODE_API_MODULE(tinyprune_kernels, InitAll)

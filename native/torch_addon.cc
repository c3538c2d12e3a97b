// tinyprune's libtorch backend: a Graph described by TypeScript (src/engine/torch.ts) becomes a
// list of libtorch ops run natively, so one training step (forward, loss, backward, optimiser)
// is one call from JavaScript. Activations stay NHWC logically; convolutions and pools see an
// NCHW view whose memory is channels_last (a permute, no copy), the layout oneDNN runs fastest.
// Weights live in the Graph's own layouts, so reading and writing them is a memcpy.
#include <napi.h>
#include <torch/torch.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum class Kind { Conv, Depthwise, FC, AvgPool, MaxPool, Mean, Reshape, Softmax, Add, Pad, Relu, Relu6, BatchNorm };
enum class Act { None, Relu, Relu6 };

struct OpSpec {
  Kind kind;
  std::vector<int> in;
  int out = -1;
  Act act = Act::None;
  std::vector<int64_t> strides{1, 1}, dilations{1, 1};
  std::vector<int64_t> pads{0, 0, 0, 0};  // top, bottom, left, right
  std::vector<int64_t> pool{1, 1};
  std::vector<int64_t> axes;
  std::vector<int64_t> shape;  // reshape: the shape without the batch dim
  std::vector<int64_t> padList;  // pad: torch order (last dim first)
  bool keepDims = false;
  bool keepNumDims = false;
  bool global = false;  // average pool over the whole H×W (a mean)
  double beta = 1, eps = 1e-3, momentum = 0.01;
  bool bnTraining = false;  // trainable BatchNorm: batch statistics when training
};

struct Param {
  std::string name;
  int slot;
  bool trainable;
  torch::Tensor t;
  torch::Tensor m, v;  // optimiser state
};

Kind kindOf(const std::string& s) {
  static const std::pair<const char*, Kind> table[] = {
      {"conv2d", Kind::Conv},          {"depthwiseConv2d", Kind::Depthwise}, {"fullyConnected", Kind::FC},
      {"averagePool2d", Kind::AvgPool}, {"maxPool2d", Kind::MaxPool},        {"mean", Kind::Mean},
      {"reshape", Kind::Reshape},       {"softmax", Kind::Softmax},          {"add", Kind::Add},
      {"pad", Kind::Pad},               {"relu", Kind::Relu},                {"relu6", Kind::Relu6},
      {"batchNorm", Kind::BatchNorm}};
  for (auto& [name, k] : table)
    if (s == name) return k;
  throw std::runtime_error("torch backend: unsupported op kind " + s);
}

std::vector<int64_t> ints(const Napi::Object& o, const char* key, std::vector<int64_t> dflt) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return dflt;
  auto a = o.Get(key).As<Napi::Array>();
  std::vector<int64_t> r(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) r[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return r;
}

double num(const Napi::Object& o, const char* key, double dflt) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return dflt;
  return o.Get(key).As<Napi::Number>().DoubleValue();
}

bool flag(const Napi::Object& o, const char* key) {
  return o.Has(key) && o.Get(key).IsBoolean() && o.Get(key).As<Napi::Boolean>().Value();
}

torch::Tensor activate(const torch::Tensor& x, Act a) {
  switch (a) {
    case Act::Relu: return torch::relu(x);
    case Act::Relu6: return torch::hardtanh(x, 0, 6);
    case Act::None: return x;
  }
  return x;
}

Napi::Float32Array toJs(Napi::Env env, const torch::Tensor& t) {
  auto c = t.detach().contiguous();
  auto out = Napi::Float32Array::New(env, c.numel());
  std::memcpy(out.Data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return out;
}

/** A view of a JS Float32Array as a tensor (valid while the call lasts). */
torch::Tensor view(Napi::Float32Array a, std::vector<int64_t> shape) {
  return torch::from_blob(a.Data(), shape, torch::kFloat);
}

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod("step", &Model::Step), InstanceMethod("gradients", &Model::Gradients),
                        InstanceMethod("predict", &Model::Predict), InstanceMethod("getParam", &Model::GetParam),
                        InstanceMethod("setParam", &Model::SetParam),
                        InstanceMethod("resetOptimizer", &Model::ResetOptimizer)});
  }

  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    auto spec = info[0].As<Napi::Object>();
    slots_ = spec.Get("slots").As<Napi::Number>().Int32Value();
    input_ = spec.Get("input").As<Napi::Number>().Int32Value();
    output_ = spec.Get("output").As<Napi::Number>().Int32Value();
    classes_ = spec.Get("classes").As<Napi::Number>().Int64Value();
    inputShape_ = ints(spec, "inputShape", {});
    auto params = spec.Get("params").As<Napi::Array>();
    for (uint32_t i = 0; i < params.Length(); i++) {
      auto p = params.Get(i).As<Napi::Object>();
      auto data = p.Get("data").As<Napi::Float32Array>();
      Param q;
      q.name = p.Get("name").As<Napi::String>().Utf8Value();
      q.slot = p.Get("slot").As<Napi::Number>().Int32Value();
      q.trainable = flag(p, "trainable");
      q.t = view(data, ints(p, "shape", {})).clone();
      if (q.trainable) q.t.set_requires_grad(true);
      params_.push_back(std::move(q));
    }
    auto ops = spec.Get("ops").As<Napi::Array>();
    for (uint32_t i = 0; i < ops.Length(); i++) {
      auto o = ops.Get(i).As<Napi::Object>();
      OpSpec s;
      s.kind = kindOf(o.Get("kind").As<Napi::String>().Utf8Value());
      for (auto v : ints(o, "inputs", {})) s.in.push_back(static_cast<int>(v));
      s.out = o.Get("output").As<Napi::Number>().Int32Value();
      auto act = o.Get("act").IsString() ? o.Get("act").As<Napi::String>().Utf8Value() : std::string("none");
      s.act = act == "relu" ? Act::Relu : act == "relu6" ? Act::Relu6 : Act::None;
      s.strides = ints(o, "strides", {1, 1});
      s.dilations = ints(o, "dilations", {1, 1});
      s.pads = ints(o, "pads", {0, 0, 0, 0});
      s.pool = ints(o, "pool", {1, 1});
      s.axes = ints(o, "axes", {});
      s.shape = ints(o, "shape", {});
      s.padList = ints(o, "padList", {});
      s.keepDims = flag(o, "keepDims");
      s.keepNumDims = flag(o, "keepNumDims");
      s.global = flag(o, "global");
      s.beta = num(o, "beta", 1);
      s.eps = num(o, "eps", 1e-3);
      s.momentum = num(o, "momentum", 0.01);
      s.bnTraining = flag(o, "bnTraining");
      ops_.push_back(std::move(s));
    }
    auto opt = spec.Get("optimizer").As<Napi::Object>();
    adam_ = opt.Get("kind").As<Napi::String>().Utf8Value() == "adam";
    momentum_ = num(opt, "momentum", 0.9);
    resetState();
  }

 private:
  int slots_ = 0, input_ = 0, output_ = 0;
  int64_t classes_ = 0;
  std::vector<int64_t> inputShape_;
  std::vector<Param> params_;
  std::vector<OpSpec> ops_;
  bool adam_ = true;
  double momentum_ = 0.9;
  int64_t t_ = 0;

  void resetState() {
    torch::NoGradGuard ng;
    t_ = 0;
    for (auto& p : params_)
      if (p.trainable) {
        p.m = torch::zeros_like(p.t);
        p.v = adam_ ? torch::zeros_like(p.t) : torch::Tensor();
      }
  }

  std::vector<int64_t> batchShape(int64_t n) const {
    std::vector<int64_t> s{n};
    s.insert(s.end(), inputShape_.begin(), inputShape_.end());
    return s;
  }

  static bool symmetric(const OpSpec& s) { return s.pads[0] == s.pads[1] && s.pads[2] == s.pads[3]; }

  /** Runs the graph; returns {output, logits} (logits: the softmax input when it ends in one). */
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, bool training) {
    std::vector<torch::Tensor> v(slots_);
    for (auto& p : params_) v[p.slot] = p.t;
    v[input_] = x;
    torch::Tensor logits;
    for (auto& s : ops_) {
      const auto& a = v[s.in[0]];
      torch::Tensor y;
      switch (s.kind) {
        case Kind::Conv:
        case Kind::Depthwise: {
          auto x4 = a.permute({0, 3, 1, 2});
          const auto& w = v[s.in[1]];
          // Graph layouts: conv [O,kh,kw,I] → [O,I,kh,kw]; depthwise [1,kh,kw,C·M] → [C·M,1,kh,kw].
          auto wt = s.kind == Kind::Conv ? w.permute({0, 3, 1, 2}) : w.permute({3, 0, 1, 2});
          int64_t groups = s.kind == Kind::Conv ? 1 : x4.size(1);
          std::vector<int64_t> pad{s.pads[0], s.pads[2]};
          if (!symmetric(s)) {
            x4 = at::constant_pad_nd(x4, {s.pads[2], s.pads[3], s.pads[0], s.pads[1]}, 0);
            pad = {0, 0};
          }
          c10::optional<torch::Tensor> bias;
          if (s.in.size() > 2 && s.in[2] >= 0) bias = v[s.in[2]];
          y = at::conv2d(x4, wt, bias, s.strides, pad, s.dilations, groups);
          y = activate(y, s.act).permute({0, 2, 3, 1});
          break;
        }
        case Kind::FC: {
          const auto& w = v[s.in[1]];
          auto flat = a.reshape({-1, w.size(1)});
          c10::optional<torch::Tensor> bias;
          if (s.in.size() > 2 && s.in[2] >= 0) bias = v[s.in[2]];
          y = activate(at::linear(flat, w, bias), s.act);
          if (s.keepNumDims) {
            auto shape = a.sizes().vec();
            shape.back() = w.size(0);
            y = y.reshape(shape);
          }
          break;
        }
        case Kind::AvgPool:
        case Kind::MaxPool: {
          if (s.global) {
            y = activate(a.mean({1, 2}, true), s.act);
            break;
          }
          auto x4 = a.permute({0, 3, 1, 2});
          bool sym = symmetric(s);
          if (s.kind == Kind::MaxPool) {
            std::vector<int64_t> pad{s.pads[0], s.pads[2]};
            if (!sym) {
              x4 = at::constant_pad_nd(x4, {s.pads[2], s.pads[3], s.pads[0], s.pads[1]}, -INFINITY);
              pad = {0, 0};
            }
            y = at::max_pool2d(x4, s.pool, s.strides, pad);
          } else if (sym) {
            // TFLite SAME average pooling divides by the count of real (unpadded) inputs.
            y = at::avg_pool2d(x4, s.pool, s.strides, {s.pads[0], s.pads[2]}, false, false);
          } else {
            std::vector<int64_t> p{s.pads[2], s.pads[3], s.pads[0], s.pads[1]};
            auto sum = at::avg_pool2d(at::constant_pad_nd(x4, p, 0), s.pool, s.strides);
            auto ones = torch::ones({1, 1, x4.size(2), x4.size(3)}, x4.options());
            auto count = at::avg_pool2d(at::constant_pad_nd(ones, p, 0), s.pool, s.strides);
            y = sum / count;
          }
          y = activate(y, s.act).permute({0, 2, 3, 1});
          break;
        }
        case Kind::Mean:
          y = a.mean(s.axes, s.keepDims);
          break;
        case Kind::Reshape: {
          std::vector<int64_t> shape{a.size(0)};
          shape.insert(shape.end(), s.shape.begin(), s.shape.end());
          y = a.reshape(shape);
          break;
        }
        case Kind::Softmax:
          logits = s.beta == 1 ? a : a * s.beta;
          y = torch::softmax(logits, -1);
          break;
        case Kind::Add:
          y = activate(a + v[s.in[1]], s.act);
          break;
        case Kind::Pad:
          y = at::constant_pad_nd(a, s.padList, 0);
          break;
        case Kind::Relu:
          y = torch::relu(a);
          break;
        case Kind::Relu6:
          y = torch::hardtanh(a, 0, 6);
          break;
        case Kind::BatchNorm: {
          // Channels last in the graph; batch_norm wants them at dim 1.
          const int64_t r = a.dim();
          auto xc = r == 4 ? a.permute({0, 3, 1, 2}) : r == 2 ? a : a.reshape({-1, a.size(-1)});
          bool batchStats = training && s.bnTraining;
          auto bn = at::batch_norm(xc, v[s.in[1]], v[s.in[2]], v[s.in[3]], v[s.in[4]], batchStats, s.momentum,
                                   s.eps, true);
          y = r == 4 ? bn.permute({0, 2, 3, 1}) : r == 2 ? bn : bn.reshape(a.sizes());
          break;
        }
      }
      v[s.out] = y;
      if (s.kind != Kind::Softmax) logits = torch::Tensor();
    }
    auto out = v[output_];
    return {out, logits.defined() ? logits : out};
  }

  struct Loss {
    torch::Tensor loss;
    int64_t correct;
  };

  Loss loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& teacher, double alpha,
            double temperature) {
    auto l2 = logits.reshape({-1, classes_});
    auto ce = at::nll_loss(at::log_softmax(l2, 1), labels);
    int64_t correct;
    {
      torch::NoGradGuard ng;
      correct = l2.argmax(1).eq(labels).sum().item<int64_t>();
    }
    if (!teacher.defined()) return {ce, correct};
    const double t = temperature;
    auto logPt = at::log_softmax(teacher / t, 1);
    auto kl = (logPt.exp() * (logPt - at::log_softmax(l2 / t, 1))).sum(1).mean();
    return {ce * alpha + kl * ((1 - alpha) * t * t), correct};
  }

  struct Batch {
    torch::Tensor x, y, teacher;
    int64_t n;
    double alpha = 1, temperature = 1;
  };

  Batch batch(const Napi::CallbackInfo& info) {
    Batch b;
    b.n = info[2].As<Napi::Number>().Int64Value();
    b.x = view(info[0].As<Napi::Float32Array>(), batchShape(b.n));
    auto y = info[1].As<Napi::Int32Array>();
    b.y = torch::from_blob(y.Data(), {b.n}, torch::kInt).to(torch::kLong);
    if (info.Length() > 3 && info[3].IsTypedArray()) {
      b.teacher = view(info[3].As<Napi::Float32Array>(), {b.n, classes_});
      b.alpha = info[4].As<Napi::Number>().DoubleValue();
      b.temperature = info[5].As<Napi::Number>().DoubleValue();
    }
    return b;
  }

  std::vector<torch::Tensor> trainable() {
    std::vector<torch::Tensor> r;
    for (auto& p : params_)
      if (p.trainable) r.push_back(p.t);
    return r;
  }

  /** Forward in training mode and gradients of the mean loss; updates BatchNorm statistics. */
  std::pair<Loss, std::vector<torch::Tensor>> grads(const Batch& b) {
    auto [out, logits] = forward(b.x, true);
    auto l = loss(logits, b.y, b.teacher, b.alpha, b.temperature);
    auto g = torch::autograd::grad({l.loss}, trainable(), {}, false, false, true);
    return {l, g};
  }

  // step(x, y, n, teacher|null, alpha, temperature, lr) → [lossSum, correct]
  Napi::Value Step(const Napi::CallbackInfo& info) {
    auto b = batch(info);
    const double lr = info[6].As<Napi::Number>().DoubleValue();
    auto [l, g] = grads(b);
    torch::NoGradGuard ng;
    t_++;
    size_t k = 0;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
    // Keras Adam: the bias corrections fold into the step size, ε added to √v unscaled.
    const double lrT = lr * std::sqrt(1 - std::pow(b2, t_)) / (1 - std::pow(b1, t_));
    for (auto& p : params_) {
      if (!p.trainable) continue;
      auto& gr = g[k++];
      if (!gr.defined()) continue;
      if (adam_) {
        p.m.mul_(b1).add_(gr, 1 - b1);
        p.v.mul_(b2).addcmul_(gr, gr, 1 - b2);
        p.t.addcdiv_(p.m, p.v.sqrt().add_(eps), -lrT);
      } else {
        p.m.mul_(momentum_).add_(gr, -lr);
        p.t.add_(p.m);
      }
    }
    auto r = Napi::Array::New(info.Env(), 2);
    r.Set(0u, Napi::Number::New(info.Env(), l.loss.item<double>() * b.n));
    r.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(l.correct)));
    return r;
  }

  // gradients(x, y, n, teacher|null, alpha, temperature) → {lossSum, correct, grads}
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    auto b = batch(info);
    auto [l, g] = grads(b);
    auto env = info.Env();
    auto r = Napi::Object::New(env);
    r.Set("lossSum", Napi::Number::New(env, l.loss.item<double>() * b.n));
    r.Set("correct", Napi::Number::New(env, static_cast<double>(l.correct)));
    auto arr = Napi::Array::New(env);
    uint32_t k = 0;
    auto tr = trainable();
    for (size_t i = 0; i < g.size(); i++)
      arr.Set(k++, toJs(env, g[i].defined() ? g[i] : torch::zeros_like(tr[i])));
    r.Set("grads", arr);
    return r;
  }

  // predict(x, n, batchSize) → outputs (inference mode: moving statistics)
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    auto x = info[0].As<Napi::Float32Array>();
    const int64_t n = info[1].As<Napi::Number>().Int64Value();
    const int64_t bs = std::max<int64_t>(1, info[2].As<Napi::Number>().Int64Value());
    c10::InferenceMode guard;
    auto all = view(x, batchShape(n));
    std::vector<torch::Tensor> parts;
    for (int64_t s = 0; s < n; s += bs) {
      auto out = forward(all.narrow(0, s, std::min(bs, n - s)), false).first;
      parts.push_back(out.reshape({out.size(0), -1}));
    }
    if (parts.empty()) return Napi::Float32Array::New(info.Env(), 0);
    return toJs(info.Env(), torch::cat(parts, 0));
  }

  Napi::Value GetParam(const Napi::CallbackInfo& info) {
    return toJs(info.Env(), params_.at(info[0].As<Napi::Number>().Uint32Value()).t);
  }

  void SetParam(const Napi::CallbackInfo& info) {
    auto& p = params_.at(info[0].As<Napi::Number>().Uint32Value());
    auto data = info[1].As<Napi::Float32Array>();
    if (static_cast<int64_t>(data.ElementLength()) != p.t.numel())
      throw Napi::Error::New(info.Env(), "setParam " + p.name + ": wrong number of values");
    torch::NoGradGuard ng;
    p.t.copy_(view(data, p.t.sizes().vec()));
  }

  void ResetOptimizer(const Napi::CallbackInfo& info) {
    auto opt = info[0].As<Napi::Object>();
    adam_ = opt.Get("kind").As<Napi::String>().Utf8Value() == "adam";
    momentum_ = num(opt, "momentum", 0.9);
    resetState();
  }
};

// C++ exceptions (torch's c10::Error included) become JS errors through node-addon-api.
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value Config(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), at::show_config());
}

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("Model", Model::Init(env));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("config", Napi::Function::New(env, Config));
  exports.Set("version", Napi::String::New(env, TORCH_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(tinyprune_torch, InitAll)

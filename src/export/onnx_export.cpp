#include "garbage/export/onnx_export.hpp"

#include <cmath>
#include <map>
#include <variant>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/export/weights_export.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/graph.hpp"

namespace garbage::exporting {
namespace {

namespace nn = torch::nn;
using models::ActivationKind;
using models::GraphBuilder;
using Value = GraphBuilder::Value;

// opset 17 is the newest the ONNX 1.12 checker knows; IR version 8 goes with it.
constexpr int64_t kIrVersion = 8;

std::vector<int64_t> pair_of(const torch::ExpandingArray<2>& a) {
  return {a->at(0), a->at(1)};
}

/// Builds the ONNX graph as the model describes itself. Float weights are stored in the
/// precision the graph computes in (fp32, or fp16 for an fp16 export).
class OnnxGraph final : public GraphBuilder {
 public:
  OnnxGraph(onnx::GraphProto& graph, const OnnxOptions& options)
      : graph_(graph), options_(options) {}

  int64_t folded_batchnorms() const { return folded_; }

  Value conv(const Value& x, const nn::Conv2dImpl& conv, const nn::BatchNorm2dImpl* bn,
             const std::string& name) override {
    const auto& o = conv.options;
    const auto padding = models::explicit_zero_padding(conv);
    if (!padding)
      throw Error("cannot export " + name + ": only explicit zero padding is supported");
    torch::Tensor weight = conv.weight.detach();
    torch::Tensor bias = conv.bias.defined() ? conv.bias.detach() : torch::Tensor();
    if (bn && options_.fold_bn) fold_batchnorm(*bn, weight, bias);
    std::vector<Value> inputs = {x, initializer(name + ".weight", weight)};
    if (bias.defined()) inputs.push_back(initializer(name + ".bias", bias));
    auto* node = add_node("Conv", inputs, name);
    const auto& p = *padding;
    set_ints(node, "kernel_shape", pair_of(o.kernel_size()));
    set_ints(node, "strides", pair_of(o.stride()));
    set_ints(node, "pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]});
    set_ints(node, "dilations", pair_of(o.dilation()));
    set_int(node, "group", o.groups());
    Value y = node->output(0);
    if (bn && !options_.fold_bn) y = batch_norm(y, *bn, name + ".bn");
    return y;
  }

  Value batch_norm(const Value& x, const nn::BatchNorm2dImpl& bn,
                   const std::string& name) override {
    check_batchnorm(bn, name);
    const int64_t c = bn.running_mean.size(0);
    auto gamma = bn.weight.defined() ? bn.weight.detach() : torch::ones({c});
    auto beta = bn.bias.defined() ? bn.bias.detach() : torch::zeros({c});
    auto* node =
        add_node("BatchNormalization",
                 {x, initializer(name + ".weight", gamma), initializer(name + ".bias", beta),
                  initializer(name + ".running_mean", bn.running_mean.detach()),
                  initializer(name + ".running_var", bn.running_var.detach())},
                 name);
    set_float(node, "epsilon", static_cast<float>(bn.options.eps()));
    return node->output(0);
  }

  Value linear(const Value& x, const nn::LinearImpl& fc, const std::string& name) override {
    std::vector<Value> inputs = {x, initializer(name + ".weight", fc.weight.detach())};
    if (fc.bias.defined()) inputs.push_back(initializer(name + ".bias", fc.bias.detach()));
    auto* node = add_node("Gemm", inputs, name);
    set_int(node, "transB", 1);
    return node->output(0);
  }

  Value activation(const Value& x, ActivationKind kind) override {
    switch (kind) {
      case ActivationKind::relu:
        return unary("Relu", x);
      case ActivationKind::sigmoid:
        return unary("Sigmoid", x);
      case ActivationKind::hardswish:
        return unary("HardSwish", x);
      case ActivationKind::hardsigmoid: {
        // torch: relu6(x + 3) / 6, i.e. ONNX's alpha 1/6, beta 1/2.
        auto* node = add_node("HardSigmoid", {x}, "");
        set_float(node, "alpha", 1.0f / 6.0f);
        set_float(node, "beta", 0.5f);
        return node->output(0);
      }
      case ActivationKind::silu:
        return binary(Binary::mul, x, unary("Sigmoid", x));
      case ActivationKind::mish:  // Mish is an op only from opset 18
        return binary(Binary::mul, x, unary("Tanh", unary("Softplus", x)));
      case ActivationKind::gelu: {  // exact (erf) GELU; an op only from opset 20
        auto erf = unary("Erf", binary(Binary::mul, x, scalar(static_cast<float>(M_SQRT1_2))));
        auto half_x = binary(Binary::mul, x, scalar(0.5f));
        return binary(Binary::mul, half_x, binary(Binary::add, erf, scalar(1.0f)));
      }
      case ActivationKind::identity:
        return x;
    }
    throw Error("cannot export activation " + std::to_string(static_cast<int>(kind)));
  }

  Value max_pool(const Value& x, int64_t kernel, int64_t stride, int64_t padding) override {
    auto* node = add_node("MaxPool", {x}, "");
    set_ints(node, "kernel_shape", {kernel, kernel});
    set_ints(node, "strides", {stride, stride});
    set_ints(node, "pads", {padding, padding, padding, padding});
    return node->output(0);
  }

  Value global_pool(const Value& x, Reduce kind) override {
    return unary(kind == Reduce::mean ? "GlobalAveragePool" : "GlobalMaxPool", x);
  }

  Value reduce_channels(const Value& x, Reduce kind) override {
    auto* node = add_node(kind == Reduce::mean ? "ReduceMean" : "ReduceMax", {x}, "");
    set_ints(node, "axes", {1});
    set_int(node, "keepdims", 1);
    return node->output(0);
  }

  Value flatten(const Value& x) override {
    auto* node = add_node("Flatten", {x}, "");
    set_int(node, "axis", 1);
    return node->output(0);
  }

  Value unflatten_spatial(const Value& x) override {
    return add_node("Unsqueeze", {x, int64_constant("axes_2_3", {2, 3})}, "")->output(0);
  }

  Value binary(Binary op, const Value& a, const Value& b) override {
    const char* type = op == Binary::add ? "Add" : op == Binary::mul ? "Mul" : "Max";
    return add_node(type, {a, b}, "")->output(0);
  }

  Value concat_channels(const std::vector<Value>& xs) override {
    auto* node = add_node("Concat", xs, "");
    set_int(node, "axis", 1);
    return node->output(0);
  }

  /// Casts between the float32 graph interface and the compute precision (no-op in fp32).
  Value cast_to_compute(const Value& x) {
    return options_.fp16 ? cast(x, onnx::TensorProto::FLOAT16) : x;
  }
  void finish_output(const Value& y, const std::string& output_name) {
    auto* node = add_node(options_.fp16 ? "Cast" : "Identity", {y}, "output");
    if (options_.fp16) set_int(node, "to", onnx::TensorProto::FLOAT);
    node->set_output(0, output_name);
  }

 private:
  static void check_batchnorm(const nn::BatchNorm2dImpl& bn, const std::string& name) {
    if (!bn.running_mean.defined() || !bn.running_var.defined())
      throw Error("cannot export " + name + ": BatchNorm without running statistics");
  }

  /// Conv followed by BatchNorm is one conv: w' = w * g / sqrt(v + eps),
  /// b' = (b - m) * g / sqrt(v + eps) + beta. Computed in double to keep the fold exact to fp32.
  void fold_batchnorm(const nn::BatchNorm2dImpl& bn, torch::Tensor& weight, torch::Tensor& bias) {
    check_batchnorm(bn, "batchnorm");
    const int64_t c = weight.size(0);
    auto dbl = [](const torch::Tensor& t) { return t.detach().to(torch::kFloat64); };
    auto gamma = bn.weight.defined() ? dbl(bn.weight) : torch::ones({c}, torch::kFloat64);
    auto beta = bn.bias.defined() ? dbl(bn.bias) : torch::zeros({c}, torch::kFloat64);
    auto scale = gamma / torch::sqrt(dbl(bn.running_var) + bn.options.eps());
    auto b = bias.defined() ? dbl(bias) : torch::zeros({c}, torch::kFloat64);
    weight = (dbl(weight) * scale.view({c, 1, 1, 1})).to(torch::kFloat32);
    bias = ((b - dbl(bn.running_mean)) * scale + beta).to(torch::kFloat32);
    ++folded_;
  }

  onnx::NodeProto* add_node(const std::string& type, const std::vector<Value>& inputs,
                            const std::string& name) {
    auto* node = graph_.add_node();
    node->set_op_type(type);
    const std::string id = std::to_string(graph_.node_size());
    // A module applied twice (CBAM's shared MLP) gets a numbered second node.
    node->set_name(name.empty() ? type + "_" + id : unique_name(name + "/" + type));
    for (const auto& in : inputs) node->add_input(in);
    node->add_output(type + "_" + id);
    return node;
  }

  Value unary(const std::string& type, const Value& x) {
    return add_node(type, {x}, "")->output(0);
  }

  Value cast(const Value& x, int to) {
    auto* node = add_node("Cast", {x}, "");
    set_int(node, "to", to);
    return node->output(0);
  }

  static void set_int(onnx::NodeProto* node, const std::string& name, int64_t v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void set_float(onnx::NodeProto* node, const std::string& name, float v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void set_ints(onnx::NodeProto* node, const std::string& name,
                       const std::vector<int64_t>& v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }

  /// A float weight in the compute precision, stored raw (little-endian, like ONNX requires).
  Value initializer(const std::string& name, const torch::Tensor& value) {
    auto t = value.detach().to(torch::kCPU).contiguous();
    const bool half = options_.fp16;
    t = t.to(half ? torch::kFloat16 : torch::kFloat32).contiguous();
    auto* init = graph_.add_initializer();
    init->set_name(unique_name(name));
    init->set_data_type(half ? onnx::TensorProto::FLOAT16 : onnx::TensorProto::FLOAT);
    for (auto d : t.sizes()) init->add_dims(d);
    init->set_raw_data(t.data_ptr(), t.numel() * t.element_size());
    return init->name();
  }

  Value scalar(float v) {
    const std::string key = "const_" + std::to_string(v);
    auto it = scalars_.find(key);
    if (it != scalars_.end()) return it->second;
    return scalars_[key] = initializer(key, torch::tensor({v}));
  }

  Value int64_constant(const std::string& name, const std::vector<int64_t>& values) {
    if (auto it = scalars_.find(name); it != scalars_.end()) return it->second;
    auto* init = graph_.add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::INT64);
    init->add_dims(static_cast<int64_t>(values.size()));
    for (auto v : values) init->add_int64_data(v);
    return scalars_[name] = name;
  }

  std::string unique_name(const std::string& name) {
    int& count = used_names_[name];
    return count++ == 0 ? name : name + "_" + std::to_string(count);
  }

  onnx::GraphProto& graph_;
  OnnxOptions options_;
  std::map<std::string, Value> scalars_;
  std::map<std::string, int> used_names_;
  int64_t folded_ = 0;
};

void set_tensor_type(onnx::ValueInfoProto* info, const std::string& name,
                     const std::vector<std::variant<int64_t, std::string>>& dims) {
  info->set_name(name);
  auto* type = info->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  for (const auto& d : dims) {
    auto* dim = type->mutable_shape()->add_dim();
    if (const auto* fixed = std::get_if<int64_t>(&d))
      dim->set_dim_value(*fixed);
    else
      dim->set_dim_param(std::get<std::string>(d));
  }
}

void add_metadata(onnx::ModelProto& proto, const std::string& key, const std::string& value) {
  auto* entry = proto.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

}  // namespace

OnnxSummary export_onnx(const loading::InferenceModel& model, const std::filesystem::path& path,
                        const OnnxOptions& options) {
  if (options.opset != 17) throw ConfigError("only ONNX opset 17 is supported");
  onnx::ModelProto proto;
  proto.set_ir_version(kIrVersion);
  proto.set_producer_name("garbage");
  proto.set_producer_version("0.1.0");
  proto.set_doc_string(model.model_name() + " exported from " + model.source);
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  add_metadata(proto, "class_names", nlohmann::json(model.class_names).dump());
  add_metadata(proto, "model", model.document.at("model").dump());
  add_metadata(proto, "preprocessing", preprocessing_json(model.transform).dump());
  add_metadata(proto, "precision", options.fp16 ? "fp16" : "fp32");

  auto* graph = proto.mutable_graph();
  graph->set_name(model.model_name());
  const int64_t side = model.input_size();
  set_tensor_type(graph->add_input(), kOnnxInputName, {std::string("batch"), 3, side, side});
  set_tensor_type(graph->add_output(), kOnnxOutputName,
                  {std::string("batch"), model.num_classes()});

  OnnxGraph builder(*graph, options);
  {
    torch::NoGradGuard no_grad;
    auto logits = model.model->emit(builder, builder.cast_to_compute(kOnnxInputName));
    builder.finish_output(logits, kOnnxOutputName);
  }
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    throw Error(model.model_name() + ": the exported graph fails the ONNX checker: " + e.what());
  }
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) throw Error(path.string() + ": ONNX serialisation failed");
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  write_text_atomic(path, bytes);

  OnnxSummary summary;
  summary.nodes = graph->node_size();
  summary.initializers = graph->initializer_size();
  summary.folded_batchnorms = builder.folded_batchnorms();
  summary.bytes = static_cast<int64_t>(bytes.size());
  return summary;
}

}  // namespace garbage::exporting

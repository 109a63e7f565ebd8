// End-to-end checks of the garbage executable: exit codes and one-line errors.

#include <fstream>

#include <gtest/gtest.h>

#include "../support/run_cli.hpp"

#include "../support/train_fixture.hpp"

namespace fs = std::filesystem;
using garbage::testing::TempDir;

using garbage::testing::run_garbage;

namespace {

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST(Cli, HelpVersionAndUsageErrors) {
  auto help = run_garbage("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("Exit codes"), std::string::npos);
  EXPECT_EQ(run_garbage("train --help").code, 0);
  EXPECT_EQ(run_garbage("--version").code, 0);
  EXPECT_EQ(run_garbage("").code, 2);
  EXPECT_EQ(run_garbage("frobnicate").code, 2);
  auto missing = run_garbage("train --config /nonexistent.json");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.output.find("nonexistent.json"), std::string::npos);
}

TEST(Cli, ConfigErrorsExitTwoWithOneLineNamingTheJsonPath) {
  TempDir dir("cli");
  write_file(dir / "typo.json", R"({"train": {"optimizer": {"name": "adma"}}})");
  auto r = run_garbage("train --config " + (dir / "typo.json").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("train.optimizer.name"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean \"adam\""), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

  write_file(dir / "broken.json", "{\"seed\": ");
  auto broken = run_garbage("summary --config " + (dir / "broken.json").string());
  EXPECT_EQ(broken.code, 2);
  EXPECT_NE(broken.output.find("broken.json"), std::string::npos);

  auto bad_set = run_garbage("summary --config " GARBAGE_SOURCE_DIR
                             "/configs/simple_cnn.json --set model.num_dense=-3");
  EXPECT_EQ(bad_set.code, 2);
  EXPECT_NE(bad_set.output.find("model.num_dense"), std::string::npos);
}

TEST(Cli, SummaryPrintsTheParameterCount) {
  auto r = run_garbage("summary --config " GARBAGE_SOURCE_DIR "/configs/simple_cnn.json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("trainable params: 547,334"), std::string::npos) << r.output;
  auto j = run_garbage("-q summary --json --config " GARBAGE_SOURCE_DIR "/configs/simple_cnn.json");
  EXPECT_EQ(j.code, 0);
  EXPECT_EQ(nlohmann::json::parse(j.output)["trainable_params"], 547334);
}

TEST(Cli, TrainThenEvalGateExitsThreeBelowTheThreshold) {
  TempDir dir("cli-train");
  garbage::testing::write_synthetic_dataset(dir / "data", 3, 24, 64);
  auto doc = garbage::testing::tiny_train_document(dir / "data", 1);
  doc["train"]["optimizer"]["lr"] = 1e-9;  // stays near chance: a 0.95 gate must fail
  write_file(dir / "tiny.json", doc.dump());
  auto train = run_garbage("train --config " + (dir / "tiny.json").string() + " --out " +
                           (dir / "run").string());
  ASSERT_EQ(train.code, 0) << train.output;
  auto ckpt = (dir / "run" / "best.pt").string();
  auto pass = run_garbage("eval --checkpoint " + ckpt + " --min-accuracy 0.0 --report " +
                          (dir / "r.json").string());
  EXPECT_EQ(pass.code, 0) << pass.output;
  EXPECT_TRUE(fs::exists(dir / "r.json"));
  EXPECT_TRUE(fs::exists(dir / "r.confusion.png"));
  auto gate = run_garbage("eval --checkpoint " + ckpt + " --min-accuracy 0.95");
  EXPECT_EQ(gate.code, 3) << gate.output;
  EXPECT_NE(gate.output.find("below --min-accuracy"), std::string::npos);
  auto not_ckpt = run_garbage("eval --checkpoint " + (dir / "tiny.json").string());
  EXPECT_EQ(not_ckpt.code, 1);
  EXPECT_NE(not_ckpt.output.find("tiny.json"), std::string::npos);
}

// The completion script is generated from the CLI definition: it parses, and bash completes
// commands, nested commands and their options with it.
TEST(Cli, BashCompletionCompletesCommandsAndOptions) {
  TempDir dir("completion");
  auto script = run_garbage("completion bash");
  ASSERT_EQ(script.code, 0) << script.output;
  write_file(dir / "garbage.bash", script.output);
  auto complete = [&](const std::string& words, int cword) {
    const std::string cmd =
        "bash -c 'source " + (dir / "garbage.bash").string() + " && COMP_WORDS=(" + words +
        ") && COMP_CWORD=" + std::to_string(cword) +
        " && _garbage && echo \"${COMPREPLY[*]}\"' > " + (dir / "out.txt").string() + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(dir / "out.txt");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(complete("garbage tr", 1), "train\n");
  EXPECT_EQ(complete("garbage eval --chec", 2), "--checkpoint\n");
  EXPECT_NE(complete("garbage sweep rep", 2).find("report"), std::string::npos);
  EXPECT_NE(complete("garbage sweep report --", 3).find("--json"), std::string::npos);
  EXPECT_NE(complete("garbage models --", 2).find("--json"), std::string::npos);
  EXPECT_EQ(run_garbage("completion zsh").code, 2);
}

// The console's static files: served by exact path with the security headers, never a file
// outside the directory (no "..", no percent-encoding, no symlink), no listing, GET/HEAD only.
#include "kmsd/console.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace kmsd {
namespace {

namespace fs = std::filesystem;

class ConsoleFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("console_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "console" / "assets");
    Write(root_ / "console" / "index.html", "<!doctype html><title>kmsd</title>");
    Write(root_ / "console" / "assets" / "index-abc123.js", "console.log(1)");
    Write(root_ / "console" / "assets" / "style-abc123.css", "body{}");
    Write(root_ / "secret.txt", "outside");
    Write(root_ / "console" / ".hidden", "hidden");
    fs::create_symlink(root_ / "secret.txt", root_ / "console" / "link.txt");
    fs::create_directory_symlink(root_, root_ / "console" / "up");
  }
  void TearDown() override { fs::remove_all(root_); }

  static void Write(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  std::unique_ptr<ConsoleFiles> Load() {
    auto files = LoadConsoleFiles((root_ / "console").string());
    EXPECT_TRUE(files.ok()) << files.status();
    return std::move(*files);
  }

  static HttpRequest Get(std::string target, std::string method = "GET") {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    return request;
  }

  static std::string HeaderOf(const HttpResponse& response, std::string_view name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name) return value;
    }
    return "";
  }

  // A 404 whose body does not carry `unwanted` (a file's content or a listing's names).
  static void ExpectNotFound(const ConsoleFiles& files, const char* target,
                             std::string_view unwanted) {
    auto response = files.Serve(Get(target));
    ASSERT_TRUE(response) << target;
    EXPECT_EQ(response->status, 404) << target;
    EXPECT_EQ(response->body.find(unwanted), std::string::npos) << target;
  }

  fs::path root_;
};

TEST_F(ConsoleFilesTest, ServesIndexAtTheConsoleRootWithSecurityHeaders) {
  auto files = Load();
  auto response = files->Serve(Get("/console/"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "<!doctype html><title>kmsd</title>");
  EXPECT_EQ(HeaderOf(*response, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(HeaderOf(*response, "Cache-Control"), "no-cache");
  EXPECT_EQ(HeaderOf(*response, "X-Content-Type-Options"), "nosniff");
  std::string policy = HeaderOf(*response, "Content-Security-Policy");
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_NE(policy.find("connect-src 'self'"), std::string::npos);
  EXPECT_EQ(policy.find("unsafe-inline"), std::string::npos);
}

TEST_F(ConsoleFilesTest, ServesHashedAssetsAsImmutableWithTheirContentType) {
  auto files = Load();
  auto script = files->Serve(Get("/console/assets/index-abc123.js?v=1"));
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->body, "console.log(1)");
  EXPECT_EQ(HeaderOf(*script, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(HeaderOf(*script, "Cache-Control"), "public, max-age=31536000, immutable");
  auto style = files->Serve(Get("/console/assets/style-abc123.css"));
  ASSERT_TRUE(style);
  EXPECT_EQ(HeaderOf(*style, "Content-Type"), "text/css; charset=utf-8");
}

TEST_F(ConsoleFilesTest, RedirectsTheBarePathToTheDirectory) {
  auto response = Load()->Serve(Get("/console"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 301);
  EXPECT_EQ(HeaderOf(*response, "Location"), "/console/");
}

TEST_F(ConsoleFilesTest, HeadAnswersTheHeadersWithoutABody) {
  auto response = Load()->Serve(Get("/console/index.html", "HEAD"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body.empty());
  EXPECT_EQ(HeaderOf(*response, "Content-Type"), "text/html; charset=utf-8");
}

TEST_F(ConsoleFilesTest, RefusesOtherMethods) {
  auto response = Load()->Serve(Get("/console/index.html", "POST"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(HeaderOf(*response, "Allow"), "GET, HEAD");
}

TEST_F(ConsoleFilesTest, NeverServesAFileOutsideTheDirectory) {
  auto files = Load();
  for (const char* target :
       {"/console/../secret.txt", "/console/%2e%2e/secret.txt", "/console/..%2fsecret.txt",
        "/console/assets/../../secret.txt", "/console/link.txt", "/console/up/secret.txt",
        "/console//etc/passwd", "/console/.hidden", "/console/assets/./index-abc123.js"}) {
    ExpectNotFound(*files, target, "outside");
  }
}

TEST_F(ConsoleFilesTest, ListsNoDirectory) {
  auto files = Load();
  for (const char* target : {"/console/assets", "/console/assets/"}) {
    ExpectNotFound(*files, target, "index-abc123");
  }
}

TEST_F(ConsoleFilesTest, LeavesOtherPathsToTheApi) {
  auto files = Load();
  EXPECT_FALSE(files->Serve(Get("/")));
  EXPECT_FALSE(files->Serve(Get("/consoles/")));
  EXPECT_FALSE(files->Serve(Get("/health")));
  EXPECT_EQ(files->FileCount(), 3u);
}

TEST_F(ConsoleFilesTest, RefusesADirectoryWithoutIndex) {
  fs::remove(root_ / "console" / "index.html");
  auto files = LoadConsoleFiles((root_ / "console").string());
  ASSERT_FALSE(files.ok());
  EXPECT_NE(std::string(files.status().message()).find("index.html"), std::string::npos);
}

TEST_F(ConsoleFilesTest, RefusesAMissingDirectory) {
  EXPECT_FALSE(LoadConsoleFiles((root_ / "nowhere").string()).ok());
}

TEST_F(ConsoleFilesTest, RefusesMoreFilesThanTheLimit) {
  ConsoleLimits limits;
  limits.max_files = 2;
  EXPECT_FALSE(LoadConsoleFiles((root_ / "console").string(), limits).ok());
}

TEST_F(ConsoleFilesTest, RefusesAFileOverTheSizeLimit) {
  ConsoleLimits limits;
  limits.max_file_bytes = 10;  // index.html is longer
  auto files = LoadConsoleFiles((root_ / "console").string(), limits);
  ASSERT_FALSE(files.ok());
  EXPECT_NE(std::string(files.status().message()).find("too large"), std::string::npos);
}

// Answers through Reply; counts what reached the next handler.
class RecordingExchange : public HttpExchange {
 public:
  explicit RecordingExchange(HttpRequest request) : request_(std::move(request)) {}
  const HttpRequest& Request() const override { return request_; }
  void Reply(HttpResponse response) override { response_ = std::move(response); }
  void Offload(std::function<void()> work) override { work(); }
  std::optional<HttpResponse> response_;

 private:
  HttpRequest request_;
};

TEST_F(ConsoleFilesTest, WithConsoleAnswersItsPathsAndPassesTheRestOn) {
  int passed_on = 0;
  AsyncHttpHandler handler =
      WithConsole(Load(), [&passed_on](std::shared_ptr<HttpExchange>) { ++passed_on; });
  auto console = std::make_shared<RecordingExchange>(Get("/console/"));
  handler(console);
  ASSERT_TRUE(console->response_);
  EXPECT_EQ(console->response_->status, 200);
  EXPECT_EQ(passed_on, 0);
  auto api = std::make_shared<RecordingExchange>(Get("/", "POST"));
  handler(api);
  EXPECT_FALSE(api->response_);
  EXPECT_EQ(passed_on, 1);
}

}  // namespace
}  // namespace kmsd

#include "server/api/auth/token_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dynclamp::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("token_store_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "tokens").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string FileText() const {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void Write(const std::string& text, mode_t mode) {
    std::ofstream(path_) << text;
    chmod(path_.c_str(), mode);
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(TokenStoreTest, IssuedTokensAuthenticateAndOnlyTheirHashIsStored) {
  auto store = TokenStore::Open(path_, /*create=*/true);
  ASSERT_TRUE(store.ok()) << store.status();
  auto alice = (*store)->Issue("alice", Role::kOperator, 1000);
  auto bob = (*store)->Issue("bob", Role::kObserver, 1001);
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_NE(*alice, *bob);
  EXPECT_EQ(alice->size(), 4u + 64u);  // dct_ and 256 bits in hex

  auto who = (*store)->Authenticate(*alice);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->name, "alice");
  EXPECT_EQ(who->role, Role::kOperator);
  EXPECT_EQ((*store)->Authenticate(*bob)->role, Role::kObserver);

  const std::string text = FileText();
  EXPECT_THAT(text, Not(HasSubstr(*alice)));
  EXPECT_THAT(text, HasSubstr("sha256:" + Sha256Hex(*alice)));
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A daemon restarted on the same file knows the same tokens.
  auto reopened = TokenStore::Open(path_, /*create=*/false);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->Authenticate(*alice)->name, "alice");
  EXPECT_EQ((*reopened)->List().size(), 2u);
  EXPECT_EQ((*reopened)->List()[1].created_unix_s, 1001);
}

TEST_F(TokenStoreTest, WrongAndRevokedTokensAreRefused) {
  auto store = TokenStore::Open(path_, true);
  ASSERT_TRUE(store.ok());
  auto token = (*store)->Issue("alice", Role::kAdmin, 1);
  ASSERT_TRUE(token.ok());
  std::string wrong = *token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  auto refused = (*store)->Authenticate(wrong);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.status().message(), Not(HasSubstr(wrong)));
  EXPECT_EQ((*store)->Authenticate("").status().code(),
            absl::StatusCode::kUnauthenticated);

  ASSERT_TRUE((*store)->Revoke("alice").ok());
  EXPECT_EQ((*store)->Authenticate(*token).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*store)->Revoke("alice").code(), absl::StatusCode::kNotFound);
  // The revocation is on disk.
  EXPECT_TRUE((*TokenStore::Open(path_, false))->List().empty());
}

TEST_F(TokenStoreTest, NamesAreUniqueAndChecked) {
  auto store = TokenStore::Open(path_, true);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Issue("rig-3.ops@lab", Role::kObserver, 1).ok());
  EXPECT_EQ((*store)->Issue("rig-3.ops@lab", Role::kAdmin, 2).status().code(),
            absl::StatusCode::kAlreadyExists);
  for (const char* bad : {"", "two words", "semi;colon", "new\nline"}) {
    auto r = (*store)->Issue(bad, Role::kObserver, 1);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("name"));
  }
  EXPECT_EQ(
      (*store)->Issue(std::string(65, 'a'), Role::kObserver, 1).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->List().size(), 1u);
}

TEST_F(TokenStoreTest, RefusesAFileOthersCanRead) {
  Write("", 0644);
  auto store = TokenStore::Open(path_, false);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(store.status().message(), HasSubstr("chmod 600"));
  EXPECT_THAT(store.status().message(), HasSubstr("0644"));
  chmod(path_.c_str(), 0600);
  EXPECT_TRUE(TokenStore::Open(path_, false).ok());
}

TEST_F(TokenStoreTest, MalformedLinesAreNamedByNumber) {
  const std::string good = "alice admin sha256:" + Sha256Hex("x") + " 1\n";
  struct Case {
    std::string line, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"bob observer sha256:abc 1\n", "hash"},
           {"bob boss sha256:" + Sha256Hex("y") + " 1\n", "role"},
           {"bob observer " + Sha256Hex("y") + " 1\n", "hash"},
           {"bob observer sha256:" + Sha256Hex("y") + "\n", "fields"},
           {"bob observer sha256:" + Sha256Hex("y") + " soon\n", "created"},
           {"alice observer sha256:" + Sha256Hex("y") + " 1\n", "twice"},
       }) {
    Write("# comment\n" + good + c.line, 0600);
    auto store = TokenStore::Open(path_, false);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument)
        << c.line;
    EXPECT_THAT(store.status().message(), HasSubstr(path_ + ":3"));
    EXPECT_THAT(store.status().message(), HasSubstr(c.expect)) << c.line;
  }
}

TEST_F(TokenStoreTest, AMissingFileIsCreatedOnlyWhenAsked) {
  EXPECT_EQ(TokenStore::Open(path_, false).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(path_));
  auto store = TokenStore::Open(path_, true);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_TRUE((*store)->List().empty());
}

TEST(RoleTest, ParsesNamesAndOrdersPrivilege) {
  EXPECT_EQ(*ParseRole("Operator"), Role::kOperator);
  EXPECT_EQ(ParseRole("root").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_LT(Role::kObserver, Role::kOperator);
  EXPECT_LT(Role::kOperator, Role::kAdmin);
  EXPECT_STREQ(RoleName(Role::kAdmin), "admin");
}

TEST(Sha256Test, MatchesTheStandardVector) {
  // FIPS 180-2, appendix B.1.
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace dynclamp::server

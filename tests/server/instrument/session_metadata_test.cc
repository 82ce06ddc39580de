#include "server/instrument/session_metadata.h"

#include <gtest/gtest.h>

namespace dynclamp::server {
namespace {

TEST(SessionMetadataTest, SetFieldsReplaceAndCellsMergeByName) {
  v1::Session base;
  base.add_experimenter("Doe, Jane");
  base.set_institution("Example University");
  base.mutable_subject()->set_species("Mus musculus");
  base.mutable_subject()->set_age("P30D");
  v1::CellInfo* c0 = base.add_cells();
  c0->set_cell("cell0");
  c0->set_location("CA1");
  c0->set_cell_description("pyramidal");

  v1::Session over;
  over.add_experimenter("Roe, Richard");
  over.add_experimenter("Poe, Edgar");
  over.mutable_subject()->set_age("P31D");
  v1::CellInfo* o0 = over.add_cells();
  o0->set_cell("cell0");
  o0->set_location("CA3");
  over.add_cells()->set_cell("cell1");

  OverlaySession(over, base);
  ASSERT_EQ(base.experimenter_size(), 2);  // replaced, not appended
  EXPECT_EQ(base.experimenter(0), "Roe, Richard");
  EXPECT_EQ(base.institution(), "Example University");  // kept
  EXPECT_EQ(base.subject().species(), "Mus musculus");
  EXPECT_EQ(base.subject().age(), "P31D");
  ASSERT_EQ(base.cells_size(), 2);
  EXPECT_EQ(base.cells(0).location(), "CA3");
  EXPECT_EQ(base.cells(0).cell_description(), "pyramidal");
  EXPECT_EQ(base.cells(1).cell(), "cell1");
}

TEST(SessionMetadataTest, WrongFormsAreRefusedNamingTheField) {
  auto check = [](auto set) {
    v1::Session s;
    set(*s.mutable_subject());
    return CheckSession(s, "protocol.session");
  };
  EXPECT_TRUE(check([](v1::Subject& s) {
                s.set_sex("F");
                s.set_age("P1D/P3D");
                s.set_species("Rattus norvegicus");
              }).ok());
  EXPECT_TRUE(check([](v1::Subject& s) { s.set_age("P90D/"); }).ok());
  EXPECT_TRUE(check([](v1::Subject& s) {
                s.set_species("http://purl.obolibrary.org/obo/NCBITaxon_10116");
              }).ok());
  const absl::Status sex = check([](v1::Subject& s) { s.set_sex("male"); });
  EXPECT_EQ(sex.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sex.message().find("protocol.session.subject.sex: 'male'"),
            std::string::npos)
      << sex;
  const absl::Status age = check([](v1::Subject& s) { s.set_age("21 days"); });
  EXPECT_NE(age.message().find("subject.age: '21 days'"), std::string::npos);
  EXPECT_FALSE(check([](v1::Subject& s) { s.set_age("P"); }).ok());
  const absl::Status species =
      check([](v1::Subject& s) { s.set_species("rat"); });
  EXPECT_NE(species.message().find("subject.species: 'rat'"),
            std::string::npos);

  v1::Session twice;
  twice.add_cells()->set_cell("cell0");
  twice.add_cells()->set_cell("cell0");
  EXPECT_NE(CheckSession(twice, "session").message().find("session.cells[1]"),
            std::string::npos);
}

TEST(SessionMetadataTest, MissingNamesWhatDandiRequires) {
  v1::Session s;
  EXPECT_EQ(MissingForDandi(s), std::vector<std::string>{"subject"});
  s.mutable_subject()->set_species("Mus musculus");
  s.mutable_subject()->set_sex("U");
  EXPECT_EQ(MissingForDandi(s),
            (std::vector<std::string>{"subject.subject_id", "subject.age"}));
  *s.mutable_subject() = SimulatedSubject({"cell0: ca1"});
  EXPECT_TRUE(MissingForDandi(s).empty());
  EXPECT_TRUE(CheckSession(s, "defaults").ok());
}

}  // namespace
}  // namespace dynclamp::server

// WordPieceTokenizer: a table of hand-checked cases against the algorithm of Hugging Face's
// BertTokenizer (BasicTokenizer + WordpieceTokenizer) on tests/data/wordpiece/vocab.txt, the
// options that change it, encode()'s specials and truncation, bad UTF-8, vocabulary errors,
// and the greedy WordPiece loop against a literal transcription of HF's on seeded random words.
#include "worker/embed/wordpiece_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "tests/unit/scratch_dir.h"

#ifndef ELEANOR_SOURCE_DIR
#error "ELEANOR_SOURCE_DIR must name the repository root"
#endif

namespace eleanor {
namespace {

using Tokens = std::vector<std::string>;
using Ids = std::vector<int32_t>;

std::string vocabPath() {
  return std::string(ELEANOR_SOURCE_DIR) + "/tests/data/wordpiece/vocab.txt";
}

// Ids of tests/data/wordpiece/vocab.txt: line number - 1.
constexpr int32_t kPad = 0, kUnk = 1, kCls = 2, kSep = 3, kHello = 5, kWorld = 6, kUn = 22,
                  kWantCont = 26;
constexpr size_t kVocabLines = 41;

WordPieceTokenizer load(WordPieceOptions options = {}) {
  return WordPieceTokenizer::fromFile(vocabPath(), options);
}

std::string join(const Tokens& tokens) {
  std::string out;
  for (const auto& t : tokens) out += (out.empty() ? "" : " | ") + t;
  return "[" + out + "]";
}

// ---- the table: default options (uncased BERT) ---------------------------------------------

struct Case {
  const char* what;
  std::string text;
  Tokens pieces;  // BertTokenizer.tokenize(text)
};

std::vector<Case> uncasedCases() {
  return {
      {"accents", "Héllo Wörld", {"hello", "world"}},
      {"decomposed accent", "He\u0301llo", {"hello"}},
      {"ASCII word in a Unicode text", "HELLO Wörld!", {"hello", "world", "!"}},
      {"accents, more", "Crème Brûlée", {"creme", "brulee"}},
      {"punctuation", "don't!", {"don", "'", "t", "!"}},
      {"HF basic lower", " \tHeLLo!how  \n Are yoU?  ", {"hello", "!", "how", "are", "you", "?"}},
      {"CJK", "我爱AI", {"我", "爱", "ai"}},
      {"CJK between latin", "ah\u535A\u63A8zz", {"ah", "\u535A", "\u63A8", "zz"}},
      {"unknown word", "xyzzy", {"[UNK]"}},
      {"## pieces", "unaffable", {"un", "##aff", "##able"}},
      {"longest match first", "unwanted running", {"un", "##want", "##ed", "runn", "##ing"}},
      {"want beats wa", "wanted", {"want", "##ed"}},
      {"longest vocabulary entry, then a piece", "istanbula", {"istanbul", "##a"}},
      {"partial segmentation is one [UNK]", "unwantedX running", {"[UNK]", "runn", "##ing"}},
      {"Unicode spaces and line separator",
       "hello\u00A0world\u3000you\u2028are",
       {"hello", "world", "you", "are"}},
      {"control and format chars dropped, no split", "hel\x01lo wor\u200Bld", {"hello", "world"}},
      {"NUL and U+FFFD dropped", std::string("hel") + '\0' + "lo wor\uFFFDld", {"hello", "world"}},
      {"soft hyphen alone", "\u00AD", {}},
      {"Unicode dash is punctuation", "hello\u2014world", {"hello", "[UNK]", "world"}},
      {"guillemets are punctuation", "\u00ABhello\u00BB", {"[UNK]", "hello", "[UNK]"}},
      {"ASCII $ is punctuation", "$5", {"$", "5"}},
      {"currency sign is not", "5\u20AC", {"[UNK]"}},
      {"dotted capital I", "\u0130stanbul", {"istanbul"}},
      {"empty", "", {}},
      {"only whitespace", " \t\r\n ", {}},
  };
}

TEST(WordPieceTable, UncasedMatchesBert) {
  const auto tok = load();
  for (const auto& c : uncasedCases()) {
    EXPECT_EQ(tok.wordPieces(c.text), c.pieces)
        << c.what << ": got " << join(tok.wordPieces(c.text)) << " want " << join(c.pieces);
  }
}

// Basic tokens whose pieces would all be [UNK] in the small vocabulary.
TEST(WordPieceTable, BasicTokensBeyondTheVocabulary) {
  const auto tok = load();
  // Python's lower() gives the final sigma; '.' is case-ignorable, so ΣΑΣ. ends in ς.
  EXPECT_EQ(tok.basicTokens("ΟΔΟΣ ΣΑΣ."), (Tokens{"οδος", "σας", "."}));
  EXPECT_EQ(tok.basicTokens("ΑΣΑ"), (Tokens{"ασα"}));  // not final: σ
  // NFD splits Hangul syllables into conjoining jamo (category Lo: kept), as BERT does.
  EXPECT_EQ(tok.basicTokens("한국"), (Tokens{"\u1112\u1161\u11AB\u1100\u116E\u11A8"}));
  // Kana are not CJK ideographs: no split.
  EXPECT_EQ(tok.basicTokens("こんにちは"), (Tokens{"こんにちは"}));
  // A CJK compatibility ideograph is split like the others and normalised to its unified form.
  EXPECT_EQ(tok.basicTokens("a\uF900b"), (Tokens{"a", "\u8C48", "b"}));
  EXPECT_EQ(tok.basicTokens("don't!"), (Tokens{"don", "'", "t", "!"}));
}

// ---- options ----------------------------------------------------------------------------------

TEST(WordPieceSettings, NoChineseCharSplitting) {
  WordPieceOptions options;
  options.tokenizeChineseChars = false;
  const auto tok = load(options);
  EXPECT_EQ(tok.basicTokens("我爱AI"), (Tokens{"我爱ai"}));
  EXPECT_EQ(tok.wordPieces("我爱AI"), (Tokens{"[UNK]"}));
}

TEST(WordPieceSettings, CasedKeepsCaseAndAccents) {
  WordPieceOptions options;
  options.lowerCase = false;  // stripAccents unset: follows lowerCase
  const auto tok = load(options);
  EXPECT_EQ(tok.basicTokens(" \tHeLLo!how  \n Are yoU?  "),
            (Tokens{"HeLLo", "!", "how", "Are", "yoU", "?"}));
  EXPECT_EQ(tok.basicTokens("Héllo Wörld"), (Tokens{"Héllo", "Wörld"}));
  // NFC: a decomposed é becomes U+00E9.
  EXPECT_EQ(tok.basicTokens("He\u0301llo"), (Tokens{"H\u00E9llo"}));
  EXPECT_EQ(tok.wordPieces("Hello hello HELLO"), (Tokens{"Hello", "hello", "[UNK]"}));
  EXPECT_EQ(tok.encode("Hello hello"), (Ids{kCls, 7, kHello, kSep}));
}

TEST(WordPieceSettings, LowerCaseWithoutStrippingAccents) {
  WordPieceOptions options;
  options.stripAccents = false;
  const auto tok = load(options);
  EXPECT_EQ(tok.basicTokens(" \tHäLLo!how  \n Are yoU?  "),
            (Tokens{"hällo", "!", "how", "are", "you", "?"}));
  // Python's full lower-case mapping of U+0130: i + U+0307.
  EXPECT_EQ(tok.basicTokens("\u0130"), (Tokens{"i\u0307"}));
}

TEST(WordPieceSettings, StripAccentsWithoutLowerCase) {
  WordPieceOptions options;
  options.lowerCase = false;
  options.stripAccents = true;
  const auto tok = load(options);
  EXPECT_EQ(tok.basicTokens(" \tHäLLo!how  \n Are yoU?  "),
            (Tokens{"HaLLo", "!", "how", "Are", "yoU", "?"}));
}

TEST(WordPieceSettings, LongWordIsUnknown) {
  const auto tok = load();
  Tokens hundred{"a"};
  hundred.insert(hundred.end(), 99, "##a");
  EXPECT_EQ(tok.wordPieces(std::string(100, 'a')), hundred);
  EXPECT_EQ(tok.wordPieces(std::string(101, 'a') + " hello"), (Tokens{"[UNK]", "hello"}));
}

TEST(WordPieceSettings, WordLengthCountsCharactersNotBytes) {
  WordPieceOptions options;
  options.lowerCase = false;
  options.maxInputCharsPerWord = 5;
  const auto tok = WordPieceTokenizer::fromTokens(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u00E9", "##\u00E9"}, options, "inline");
  EXPECT_EQ(tok.wordPieces("ééééé"), (Tokens{"é", "##é", "##é", "##é", "##é"}));
  EXPECT_EQ(tok.wordPieces("éééééé"), (Tokens{"[UNK]"}));
}

// ---- encode: specials and truncation ---------------------------------------------------------

TEST(WordPieceEncode, SpecialsAndIds) {
  const auto tok = load();
  EXPECT_EQ(tok.vocabSize(), kVocabLines);
  EXPECT_EQ(tok.padId(), kPad);
  EXPECT_EQ(tok.unkId(), kUnk);
  EXPECT_EQ(tok.clsId(), kCls);
  EXPECT_EQ(tok.sepId(), kSep);
  EXPECT_EQ(tok.encode("Héllo Wörld"), (Ids{kCls, kHello, kWorld, kSep}));
  EXPECT_EQ(tok.encode("xyzzy"), (Ids{kCls, kUnk, kSep}));
  EXPECT_EQ(tok.encode(""), (Ids{kCls, kSep}));
  EXPECT_EQ(tok.encode(" \n\t "), (Ids{kCls, kSep}));
}

TEST(WordPieceEncode, TruncatesKeepingSepLast) {
  WordPieceOptions options;
  options.maxSeqLen = 5;
  EXPECT_EQ(load(options).encode("hello world hello world"),
            (Ids{kCls, kHello, kWorld, kHello, kSep}));
  options.maxSeqLen = 4;
  EXPECT_EQ(load(options).encode("hello world"), (Ids{kCls, kHello, kWorld, kSep}));  // fits
  EXPECT_EQ(load(options).encode("unwanted"), (Ids{kCls, kUn, kWantCont, kSep}));     // mid-word
  options.maxSeqLen = 2;
  EXPECT_EQ(load(options).encode("hello world"), (Ids{kCls, kSep}));
}

TEST(WordPieceEncode, EncodeIntoReplacesTheContents) {
  const auto tok = load();
  Ids ids{7, 7, 7, 7, 7, 7};
  tok.encodeInto("hello", ids);
  EXPECT_EQ(ids, (Ids{kCls, kHello, kSep}));
}

// ---- invalid UTF-8: each bad byte reads as U+FFFD, which is dropped ---------------------------

TEST(WordPieceInvalidUtf8, BadBytesAreDropped) {
  const auto tok = load();
  EXPECT_EQ(tok.wordPieces("hello \xFF\xFEworld"), (Tokens{"hello", "world"}));
  EXPECT_EQ(tok.wordPieces("he\xFFllo"), (Tokens{"hello"}));
  EXPECT_EQ(tok.wordPieces("hello\xC3"), (Tokens{"hello"}));          // truncated sequence
  EXPECT_EQ(tok.wordPieces("hello\xED\xA0\x80"), (Tokens{"hello"}));  // surrogate
  EXPECT_EQ(tok.wordPieces("a\xC0\xAF"
                           "a"),
            (Tokens{"a", "##a"}));                                   // overlong '/', not '/'
  EXPECT_EQ(tok.wordPieces("\xE4\xBD\xA0\xE5"), (Tokens{"[UNK]"}));  // 你 + a stray lead byte
}

TEST(WordPieceInvalidUtf8, RandomBytesNeverBreakEncode) {
  const uint64_t seed = 20240607;
  std::mt19937_64 rng(seed);
  WordPieceOptions options;
  options.maxSeqLen = 16;
  const auto tok = load(options);
  for (int round = 0; round < 2000; ++round) {
    std::string text(std::uniform_int_distribution<size_t>(0, 64)(rng), '\0');
    for (char& c : text) c = static_cast<char>(rng());
    Ids ids;
    ASSERT_NO_THROW(ids = tok.encode(text)) << "seed " << seed << " round " << round;
    ASSERT_GE(ids.size(), 2u) << "seed " << seed << " round " << round;
    ASSERT_LE(ids.size(), 16u) << "seed " << seed << " round " << round;
    EXPECT_EQ(ids.front(), kCls);
    EXPECT_EQ(ids.back(), kSep);
    for (const int32_t id : ids) ASSERT_LT(static_cast<size_t>(id), tok.vocabSize());
  }
}

// ---- WordPiece loop against HF's, transcribed literally ----------------------------------------

// WordpieceTokenizer.tokenize for one word given as characters.
Tokens referenceWordPiece(const Tokens& chars, const std::vector<std::string>& vocab,
                          size_t maxChars) {
  if (chars.size() > maxChars) return {"[UNK]"};
  Tokens out;
  size_t start = 0;
  while (start < chars.size()) {
    size_t end = chars.size();
    std::string found;
    while (start < end) {
      std::string sub = start > 0 ? "##" : "";
      for (size_t k = start; k < end; ++k) sub += chars[k];
      if (std::find(vocab.begin(), vocab.end(), sub) != vocab.end()) {
        found = sub;
        break;
      }
      --end;
    }
    if (found.empty()) return {"[UNK]"};
    out.push_back(found);
    start = end;
  }
  return out;
}

TEST(WordPieceReference, RandomVocabulariesAndWords) {
  // Letters only (no punctuation, no CJK), mixed byte widths; no case, no accents to strip.
  const Tokens alphabet{"a", "b", "c", "\u00F0", "\u0436", "\u0915", "\U00010348"};
  WordPieceOptions options;
  options.lowerCase = false;
  options.tokenizeChineseChars = false;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed);
    const auto pick = [&](size_t n) {
      return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
    };
    const auto randomChars = [&](size_t n) {
      Tokens chars;
      for (size_t k = 0; k < n; ++k) chars.push_back(alphabet[pick(alphabet.size())]);
      return chars;
    };
    std::vector<std::string> vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    const size_t entries = 5 + pick(40);
    for (size_t e = 0; e < entries; ++e) {
      std::string entry = pick(2) ? "##" : "";
      for (const auto& c : randomChars(1 + pick(4))) entry += c;
      vocab.push_back(entry);
    }
    options.maxInputCharsPerWord = static_cast<int>(4 + pick(12));
    const auto tok = WordPieceTokenizer::fromTokens(vocab, options, "random");
    for (int w = 0; w < 200; ++w) {
      const Tokens chars = randomChars(1 + pick(18));
      std::string word;
      for (const auto& c : chars) word += c;
      const Tokens want =
          referenceWordPiece(chars, vocab, static_cast<size_t>(options.maxInputCharsPerWord));
      ASSERT_EQ(tok.wordPieces(word), want)
          << "seed " << seed << " word " << word << " vocab size " << vocab.size()
          << " maxInputCharsPerWord " << options.maxInputCharsPerWord;
    }
  }
}

TEST(WordPieceReference, ThreadsAgreeWithOneThread) {
  const auto tok = load();
  const auto cases = uncasedCases();
  std::vector<Ids> serial;
  for (const auto& c : cases) serial.push_back(tok.encode(c.text));
  std::vector<std::vector<Ids>> perThread(4);
  std::vector<std::thread> threads;
  for (auto& out : perThread) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        out.clear();
        for (const auto& c : cases) out.push_back(tok.encode(c.text));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& out : perThread) EXPECT_EQ(out, serial);
}

// ---- the vocabulary file ---------------------------------------------------------------------

class WordPieceVocab : public ScratchDirTest {};

// The message of the UserError that `load` throws; fails the test when it throws none.
template <class Load>
std::string userErrorOf(Load&& load) {
  try {
    load();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no UserError thrown";
  return "";
}

TEST_F(WordPieceVocab, MissingFile) {
  const std::string missing = path("nowhere/vocab.txt");
  const std::string message = userErrorOf([&] { WordPieceTokenizer::fromFile(missing); });
  EXPECT_NE(message.find("cannot read the WordPiece vocabulary " + missing), std::string::npos)
      << message;
  EXPECT_NE(message.find("embedder.vocab"), std::string::npos) << message;
  EXPECT_EQ(load().vocabSize(), kVocabLines);  // and a good file still loads
}

TEST_F(WordPieceVocab, EmptyFile) {
  const std::string file = write("vocab.txt", "");
  const std::string message = userErrorOf([&] { WordPieceTokenizer::fromFile(file); });
  EXPECT_NE(message.find(file + " is empty"), std::string::npos) << message;
}

TEST_F(WordPieceVocab, MissingSpecialTokens) {
  const std::string noUnk = write("no_unk.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
  std::string message = userErrorOf([&] { WordPieceTokenizer::fromFile(noUnk); });
  EXPECT_NE(message.find(noUnk + " (4 tokens) lacks [UNK];"), std::string::npos) << message;

  const std::string onlyWords = write("words.txt", "hello\nworld\n");
  message = userErrorOf([&] { WordPieceTokenizer::fromFile(onlyWords); });
  EXPECT_NE(message.find("lacks [PAD], [UNK], [CLS], [SEP];"), std::string::npos) << message;
}

TEST_F(WordPieceVocab, LineThatIsNotUtf8) {
  const std::string file = write("vocab.txt", "[PAD]\n[UNK]\nbad\xFF\n[CLS]\n[SEP]\n");
  const std::string message = userErrorOf([&] { WordPieceTokenizer::fromFile(file); });
  EXPECT_NE(message.find(file + ":3:"), std::string::npos) << message;
}

TEST_F(WordPieceVocab, InvalidOptions) {
  WordPieceOptions options;
  options.maxSeqLen = 1;
  std::string message = userErrorOf([&] { load(options); });
  EXPECT_NE(message.find("max_seq_len is 1"), std::string::npos) << message;
  options = {};
  options.maxInputCharsPerWord = 0;
  message = userErrorOf([&] { load(options); });
  EXPECT_NE(message.find("max_input_chars_per_word is 0"), std::string::npos) << message;
}

TEST_F(WordPieceVocab, LinesAsPythonReadsThem) {
  // CRLF and CR end lines (universal newlines); no newline after the last line is fine.
  auto tok =
      WordPieceTokenizer::fromFile(write("crlf.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r[SEP]\r\nhello"));
  EXPECT_EQ(tok.vocabSize(), 5u);
  EXPECT_EQ(tok.encode("hello"), (Ids{2, 4, 3}));
  // An empty line still takes an id; a repeated token keeps its last id (HF's dict update).
  tok = WordPieceTokenizer::fromFile(
      write("gaps.txt", "[PAD]\n\n[UNK]\n[CLS]\n[SEP]\nhello\nhello\n"));
  EXPECT_EQ(tok.vocabSize(), 7u);
  EXPECT_EQ(tok.unkId(), 2);
  EXPECT_EQ(tok.encode("hello"), (Ids{3, 6, 4}));
}

}  // namespace
}  // namespace eleanor

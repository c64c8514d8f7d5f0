"""RankGPT prompt, permutation parsing (property-based) and the sliding window."""

from hypothesis import given, settings
from hypothesis import strategies as st

from training.teacher.listwise import (
    build_messages, format_permutation, parse_permutation, parse_prompt, sliding_window_rank, windows,
)

# strings that look like model answers: ids, brackets, separators and chatter, mixed with noise
ANSWER_PARTS = st.one_of(
    st.integers(-5, 60).map(lambda i: f"[{i}]"),
    st.integers(0, 60).map(str),
    st.sampled_from([" > ", ">", ", ", " ", "\n", "[", "]", "Here is the ranking: ", "passage ", "[abc]",
                     "I cannot rank these.", "99999999999999999999"]),
    st.text(max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(), st.lists(ANSWER_PARTS, max_size=40).map("".join)), n=st.integers(0, 30))
def test_any_string_gives_a_valid_permutation(text, n):
    parsed = parse_permutation(text, n)
    assert sorted(parsed.permutation) == list(range(n))
    assert set(parsed.ranked).isdisjoint(parsed.omitted)
    assert parsed.omitted == sorted(parsed.omitted)  # left-out ids keep input order


def test_clean_answer():
    p = parse_permutation("[3] > [1] > [2]", 3)
    assert p.ranked == [2, 0, 1] and p.omitted == []


def test_duplicates_missing_invented_and_chatter():
    text = "Sure! Based on relevance to the 4 passages: [2] > [2] > [9] > [0] > [4]. Hope this helps."
    p = parse_permutation(text, 4)
    # "4 passages" is chatter: bracketed ids exist, so bare numbers are ignored
    assert p.ranked == [1, 3]
    assert p.omitted == [0, 2]
    assert p.permutation == [1, 3, 0, 2]


def test_bare_numbers_when_no_brackets():
    assert parse_permutation("2 > 1, then 3", 3).ranked == [1, 0, 2]


def test_prompt_round_trip_and_format():
    passages = ["Paris is in France.", "Fleas eat blood.", "A flea market."]
    msgs = build_messages("what do fleas eat", passages)
    assert parse_prompt(msgs) == ("what do fleas eat", passages)
    assert parse_prompt([{"role": "user", "content": "hello"}]) is None
    assert format_permutation([2, 0, 1]) == "[3] > [1] > [2]"


def test_windows_reach_the_top():
    assert windows(100, 20, 10)[0] == (80, 100) and windows(100, 20, 10)[-1] == (0, 20)
    assert windows(25, 20, 10) == [(5, 25), (0, 15)]
    assert windows(5, 20, 10) == [(0, 5)]
    for n in range(1, 60):
        covered = set()
        for a, b in windows(n, 7, 3):
            assert 0 <= a < b <= n and b - a <= 7
            covered |= set(range(a, b))
        assert covered == set(range(n))


def test_sliding_window_with_a_perfect_ranker_brings_the_best_to_the_top():
    relevance = [3, 7, 1, 9, 0, 5, 8, 2, 6, 4, 11, 10]

    def oracle(ids):
        order = sorted(range(len(ids)), key=lambda i: -relevance[ids[i]])
        return parse_permutation(format_permutation(order), len(ids))

    order, omitted = sliding_window_rank(len(relevance), oracle, window=4, step=2)
    assert sorted(order) == list(range(len(relevance)))
    assert [relevance[i] for i in order[:2]] == [11, 10]   # a bubble pass moves the best to the top
    assert omitted == set()


def test_sliding_window_records_omissions():
    def skips_first(ids):  # answers with every id except the window's first
        return parse_permutation(format_permutation(list(range(1, len(ids)))), len(ids))

    order, omitted = sliding_window_rank(6, skips_first, window=6, step=3)
    assert omitted == {0}
    assert order[-1] == 0 and sorted(order) == list(range(6))

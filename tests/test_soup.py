"""``rerank soup`` on tiny real students: the weights are the weighted mean tensor by tensor, the
soup loads and scores as a student, weights default to shares of what is left, and checkpoints of
another architecture or vocabulary are refused."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers.tiny_student import TINY_BERT, save_tiny_student
from training.cli import main as rerank
from training.student.soup import make_soup, normalised_weights, parse_ingredient

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def parents(tmp_path_factory):
    root = tmp_path_factory.mktemp("soup")
    a = save_tiny_student(root / "a", tcl=True, seed=0, trained_like=True)
    b = save_tiny_student(root / "b", tcl=False, seed=1, trained_like=True)
    return a, b


def _score(directory) -> torch.Tensor:
    from training.student.model import RRABert

    model = RRABert.load(directory).eval()
    ids = torch.tensor([[101, 2054, 2003, 1037, 4937, 102, 1037, 4937, 2003, 2019, 3863, 102]])
    with torch.no_grad():
        return model(ids, torch.ones_like(ids), (torch.arange(12) > 5).long()[None], use_tcl=False).score


def test_cli_writes_the_weighted_mean_of_every_tensor(parents, tmp_path, capsys):
    a, b = parents
    out = tmp_path / "soup"
    assert rerank(["soup", "--checkpoint", f"{a}=1", "--checkpoint", f"{b}=3", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [i["weight"] for i in printed["ingredients"]] == [0.25, 0.75]

    sa, sb, soup = (load_file(str(d / "model.safetensors")) for d in (a, b, out))
    assert set(soup) == set(sa) and printed["tensors"] == len(soup)
    for key, value in soup.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.25 * sa[key] + 0.75 * sb[key], rtol=0, atol=1e-6)
        else:
            assert torch.equal(value, sa[key]), key
    # the two parents really differ, so the mean is not one of them
    assert not torch.allclose(sa["classifier.weight"], sb["classifier.weight"])

    meta = json.loads((out / "student.json").read_text())
    assert meta["soup"] == printed and meta["tcl"]["enabled"] is False and meta["max_length"] == 64
    assert not (out / "tcl.pt").exists()  # a trained TCL is not averaged (b has none)
    assert (out / "vocab.txt").read_bytes() == (a / "vocab.txt").read_bytes()
    assert _score(out).shape == (1,)


def test_a_weight_of_one_gives_that_checkpoint_back(parents, tmp_path):
    a, b = parents
    make_soup([(b, 1.0), (a, 0.0)], tmp_path / "only-b")
    assert torch.equal(_score(tmp_path / "only-b"), _score(b))
    make_soup([(a, None), (b, None)], tmp_path / "half")
    assert not torch.allclose(_score(tmp_path / "half"), _score(a))


def test_weights_default_to_equal_shares_of_what_is_left():
    assert normalised_weights([None, None]) == [0.5, 0.5]
    assert normalised_weights([None, 0.2, None]) == pytest.approx([0.4, 0.2, 0.4])
    assert normalised_weights([2.0, 6.0]) == [0.25, 0.75]
    with pytest.raises(ValueError, match=">= 0"):
        normalised_weights([-0.5, None])
    with pytest.raises(ValueError, match="nothing is left"):
        normalised_weights([1.5, None])
    with pytest.raises(ValueError, match="sum to 0"):
        normalised_weights([0.0, 0.0])
    assert parse_ingredient("runs/a=0.3") == ("runs/a", 0.3)
    assert parse_ingredient("runs/lr=1e-5/best") == ("runs/lr=1e-5/best", None)
    assert parse_ingredient("runs/a") == ("runs/a", None)


def test_another_architecture_or_vocabulary_is_refused(parents, tmp_path, capsys):
    a, b = parents
    wide = tmp_path / "wide"
    original = dict(TINY_BERT)
    try:
        TINY_BERT["intermediate_size"] = 96
        save_tiny_student(wide, tcl=False)
    finally:
        TINY_BERT.clear()
        TINY_BERT.update(original)
    assert rerank(["soup", "--checkpoint", str(a), "--checkpoint", str(wide), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "another architecture" in err and "'intermediate_size': (64, 96)" in err
    assert not (tmp_path / "x").exists()

    other_vocab = tmp_path / "vocab"
    shutil.copytree(a, other_vocab)
    (other_vocab / "vocab.txt").write_text((a / "vocab.txt").read_text().replace("[unused0]", "[unused-x]"))
    with pytest.raises(ValueError, match="another tokenizer vocabulary"):
        make_soup([(a, None), (other_vocab, None)], tmp_path / "y")
    with pytest.raises(ValueError, match="at least two"):
        make_soup([(a, None)], tmp_path / "z")
    with pytest.raises(ValueError, match="is one of the ingredients"):
        make_soup([(a, None), (b, None)], a)
    with pytest.raises(FileNotFoundError, match="not a student checkpoint"):
        make_soup([(a, None), (tmp_path, None)], tmp_path / "w")


def test_model_card_of_an_exported_soup_names_its_ingredients_and_command(parents, tmp_path):
    from training.export.model_card import render
    from training.student.config import student_json_block

    a, b = parents
    make_soup([(a, 0.25), (b, None)], tmp_path / "soup")
    soup = student_json_block(tmp_path / "soup", "soup")
    assert student_json_block(a, "soup") is None
    report = {"model_name": "rerank-student", "version": 9, "served": "fp32", "opset": 17,
              "variants": {"fp32": {"ndcg@10": 0.5, "pairs_per_s": 10.0, "parity": {"max_abs_diff": 1e-6}}}}
    meta = {"model_version": "soup-fp32-0", "max_length": 64, "base_model": "random tiny BERT", "soup": soup}
    card = render(report, meta, None, None)
    assert f"- Weights: the weighted mean (`rerank soup`) of `{a}` (0.25), `{b}` (0.75)" in card
    assert f"rerank soup --checkpoint {a}=0.25 --checkpoint {b}=0.75 --out DIR" in card
    assert "- Base weights: those of the soup's ingredients (above)" in card
    assert "Base weights: random tiny BERT" not in card and "unknown: the checkpoint has no train_args" not in card
    # a checkpoint that is not a soup keeps its base-weights line and (here, unknown) command
    plain = render(report, {**meta, "soup": None}, None, None)
    assert "- Base weights: random tiny BERT." in plain and "unknown: the checkpoint has no train_args" in plain

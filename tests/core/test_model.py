"""The DRRN network against ARCHITECTURE.md: sizes, depth, sharing, residuals, ablations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from drrn_core.descriptor import ModelDescriptor
from drrn_core.model import DRRN, DRRNConfig, conv_weight_count

PAPER_SIZES = [("B1U9", 20, 297_216), ("B1U25", 52, 297_216), ("B3U8", 52, 1_181_952),
               ("B17U1", 52, 7_375_104)]


@pytest.mark.parametrize(("name", "depth", "weights"), PAPER_SIZES)
def test_conv_weight_counts_and_depth_match_the_paper(name: str, depth: int, weights: int) -> None:
    model = DRRN(DRRNConfig.parse(name))
    assert conv_weight_count(model) == weights
    assert model.config.depth == depth
    assert ModelDescriptor.for_config(model.config).receptive_field == 2 * depth + 1


def count_conv_applications(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(conv layers applied in one forward, MACs per output pixel) counted with hooks."""
    calls, macs = [0], [0]

    def hook(m: nn.Conv2d, _inp, out) -> None:
        calls[0] += 1
        macs[0] += m.weight.numel() * out.shape[-1] * out.shape[-2]

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(x)
    return calls[0], macs[0] // (x.shape[-1] * x.shape[-2])


@pytest.mark.parametrize("cfg", [DRRNConfig(B=1, U=3, channels=8), DRRNConfig(B=3, U=2, channels=4),
                                 DRRNConfig(B=5, U=0, channels=6)])
def test_depth_and_macs_are_what_a_forward_pass_does(cfg: DRRNConfig) -> None:
    layers, macs = count_conv_applications(DRRN(cfg), torch.rand(1, 1, 12, 10))
    assert layers == cfg.depth
    assert macs == cfg.macs_per_pixel


def test_weights_are_shared_within_a_block_but_not_across_blocks() -> None:
    shared = DRRN(DRRNConfig(B=2, U=4, channels=8))
    for block in shared.blocks:
        assert len(block.conv1) == len(block.conv2) == 1
        assert len(block.act1) == len(block.act2) == 4  # per-unit pre-activations
    assert shared.blocks[0].conv1[0] is not shared.blocks[1].conv1[0]
    unshared = DRRN(DRRNConfig(B=2, U=4, channels=8, share=False))
    assert all(len(b.conv1) == 4 for b in unshared.blocks)
    assert conv_weight_count(unshared) > conv_weight_count(shared)


def test_vdsr_is_u_zero() -> None:
    vdsr = DRRN(DRRNConfig(B=19, U=0, channels=8))
    assert vdsr.config.depth == 20
    assert all(len(b.conv1) == 0 for b in vdsr.blocks)


def test_global_residual_returns_the_input_when_reconstruction_is_zero() -> None:
    model = DRRN(DRRNConfig(B=1, U=2, channels=8))
    nn.init.zeros_(model.conv_rec.weight)
    nn.init.zeros_(model.conv_rec.bias)
    x = torch.rand(2, 1, 9, 11)
    assert torch.equal(model(x), x)


def test_multi_path_and_chain_modes_compute_different_functions() -> None:
    torch.manual_seed(0)
    multi = DRRN(DRRNConfig(B=1, U=3, channels=8))
    chain = DRRN(DRRNConfig(B=1, U=3, channels=8, chain=True))
    chain.load_state_dict(multi.state_dict())
    x = torch.rand(1, 1, 10, 10)
    assert not torch.allclose(multi(x), chain(x))


def test_identity_branch_is_h0_in_multi_path_mode() -> None:
    """With the residual function zeroed, every unit returns H0 (+0), so x_B = H0."""
    model = DRRN(DRRNConfig(B=1, U=3, channels=4))
    block = model.blocks[0]
    for conv in (block.conv2[0],):
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    x = torch.rand(1, 1, 6, 6)
    h0 = block.conv_in(block.act_in(x))
    assert torch.allclose(block(x), h0)


def test_batchnorm_variant_has_per_unit_batchnorm_and_biases_option() -> None:
    bn = DRRN(DRRNConfig(B=1, U=3, channels=8, batchnorm=True))
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules())
    assert n_bn == 1 + 2 * 3 + 1  # before conv_in, two per unit, before conv_rec
    lite = DRRN(DRRNConfig(B=1, U=3, channels=8, bias=False))
    assert all(m.bias is None for m in lite.modules() if isinstance(m, nn.Conv2d))


def test_he_initialisation() -> None:
    torch.manual_seed(0)
    model = DRRN(DRRNConfig(B=1, U=1, channels=128))
    w = model.blocks[0].conv1[0].weight
    assert w.std().item() == pytest.approx((2 / (128 * 9)) ** 0.5, rel=0.02)


def test_config_parsing_and_validation() -> None:
    assert DRRNConfig.parse("drrn_b3u8") == DRRNConfig(B=3, U=8)
    assert DRRNConfig.from_dict(DRRNConfig(B=2, U=1).to_dict()) == DRRNConfig(B=2, U=1)
    with pytest.raises(ValueError):
        DRRNConfig.parse("resnet50")
    with pytest.raises(ValueError):
        DRRNConfig(B=0, U=1)

"""The three placements against a hand-written forward of one block, for pre-LN (GPT-2, Llama) and post-LN (BERT).

Oracle: the block recomputed from its own sub-modules with the placement's formula on the residual stream
(layer.py's table), H = block input, S = stream after attention:
    after_attention      S' = S + TA(S), then the MLP on S'
    parallel_attention   S' = S + TA(H), then the MLP on S'
    parallel_ffn         Out = S + MLP(S) + TA(S)
"""

import pytest
import torch
from conftest import tiny_model
from test_architectures import batch_for, randomize_adapter

from tinyattn_lab import TinyAttnConfig, TinyAttnModel
from tinyattn_lab.config import PLACEMENTS

PRE_LN = {"gpt2": ("attn", "ln_2", "mlp"), "llama": ("self_attn", "post_attention_layernorm", "mlp")}


class Calls:
    """The input of the block and the arguments and output of one of its children, from one forward."""

    def __init__(self, block, child):
        self.handles = [
            block.register_forward_pre_hook(self.block_in, with_kwargs=True),
            block.register_forward_hook(self.block_out),
            block.get_submodule(child).register_forward_pre_hook(self.child_in, with_kwargs=True),
        ]

    def block_in(self, module, args, kwargs):
        self.H = args[0] if args else kwargs["hidden_states"]

    def block_out(self, module, args, output):
        self.out = output[0] if isinstance(output, tuple) else output

    def child_in(self, module, args, kwargs):  # without the model's cache: calling again must not extend it
        self.args = args
        self.kwargs = {k: v for k, v in kwargs.items() if k not in ("past_key_values", "layer_past", "use_cache")}

    def call(self, module, x):
        """The child called again as the block called it, on input x (args[0] or hidden_states replaced)."""
        if self.args:
            out = module(x, *self.args[1:], **self.kwargs)
        else:
            out = module(**{**self.kwargs, "hidden_states": x})
        return out[0] if isinstance(out, tuple) else out

    def remove(self):
        for h in self.handles:
            h.remove()


def adapted_one_layer(family, placement):
    wrapped = TinyAttnModel(tiny_model(family, num_hidden_layers=1), TinyAttnConfig(num_heads=2, placement=placement))
    randomize_adapter(wrapped.eval(), "default")
    block = wrapped.model.get_submodule(wrapped.layer_names[0])
    return wrapped, block, block.tinyattn["default"]


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("family", sorted(PRE_LN))
def test_pre_ln_placements_match_reference(family, placement):
    attn_name, norm_name, mlp_name = PRE_LN[family]
    wrapped, block, adapter = adapted_one_layer(family, placement)
    batch = batch_for(family)
    mask = batch["attention_mask"]
    calls = Calls(block, attn_name)
    with torch.no_grad():
        wrapped(**batch)
        with wrapped.disable_adapter():  # the reference: the block's own modules, no hook applies an adapter
            H = calls.H
            S = H + calls.call(block.get_submodule(attn_name), calls.args[0] if calls.args else
                               calls.kwargs["hidden_states"])
            norm, mlp = block.get_submodule(norm_name), block.get_submodule(mlp_name)

            def ta(x):
                return adapter(x, mask, causal=True)[0]

            if placement == "parallel_ffn":
                expected = S + mlp(norm(S)) + ta(S)
            else:
                S1 = S + ta(S if placement == "after_attention" else H)
                expected = S1 + mlp(norm(S1))
            bare = S + mlp(norm(S))
    calls.remove()
    torch.testing.assert_close(calls.out, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(expected, bare, atol=1e-3)  # the adapter did change the block


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_post_ln_placements_match_reference(placement):
    """BERT: A = attention(H) = LN(H + SelfAttn(H)) is the stream after attention; Out = output(intermediate(A), A)."""
    wrapped, block, adapter = adapted_one_layer("bert", placement)
    batch = batch_for("bert")
    mask = batch["attention_mask"]
    calls = Calls(block, "attention")
    with torch.no_grad():
        wrapped(**batch)
        with wrapped.disable_adapter():
            H = calls.H
            A = calls.call(block.attention, H)

            def ffn(x):
                return block.output(block.intermediate(x), x)

            def ta(x):
                return adapter(x, mask)[0]

            if placement == "parallel_ffn":
                expected = ffn(A) + ta(A)
            else:
                A1 = A + ta(A if placement == "after_attention" else H)
                expected = ffn(A1)
    calls.remove()
    torch.testing.assert_close(calls.out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["gpt_neox", "phi"])
def test_parallel_residual_blocks_make_after_attention_equal_parallel_ffn(family):
    """Oracle: README's note. The MLP of a parallel-residual block reads H, not S, so adding TA(S) to the attention
    branch or to the MLP branch gives the same block output; a sequential block (Llama) tells them apart."""

    def hidden(fam, placement):
        wrapped, _, _ = adapted_one_layer(fam, placement)
        with torch.no_grad():
            return wrapped(**batch_for(fam), output_hidden_states=True).hidden_states[-1]

    torch.testing.assert_close(hidden(family, "after_attention"), hidden(family, "parallel_ffn"), atol=1e-6, rtol=0)
    gap = (hidden("llama", "after_attention") - hidden("llama", "parallel_ffn")).abs().max()
    assert gap > 1e-4  # 100x the tolerance above

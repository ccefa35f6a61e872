"""What both DPO backends share: tokenised preference pairs and the held-out evaluation.

:mod:`hpo.integrations.dpo` (the plain-torch loop) and :mod:`hpo.integrations._dpo_trl`
(trl's ``DPOTrainer``) import this; it imports neither, nor transformers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn


class Pairs:
    """Tokenised preference pairs: prompt ids and response ids (ending with EOS)."""

    def __init__(self, records: Sequence[Mapping[str, str]], tokenizer: Any, max_length: int
                 ) -> None:
        self.items = []
        eos = tokenizer.eos_token_id
        for r in records:
            p = tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]
            c = tokenizer(r["chosen"], add_special_tokens=False)["input_ids"] + [eos]
            j = tokenizer(r["rejected"], add_special_tokens=False)["input_ids"] + [eos]
            room = max_length - max(len(c), len(j))
            p = p[-room:] if room > 0 else p[-1:]  # keep the end of long prompts
            self.items.append((p, c[:max_length - len(p)], j[:max_length - len(p)]))
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, idx: Sequence[int], device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Chosen rows then rejected rows: input ids, attention mask, response mask."""
        seqs, resp = [], []
        for which in (1, 2):
            for i in idx:
                p, r = self.items[i][0], self.items[i][which]
                seqs.append(p + r)
                resp.append([0] * len(p) + [1] * len(r))
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        attn = torch.zeros(len(seqs), width, dtype=torch.long)
        mask = torch.zeros(len(seqs), width)
        for k, (s, m) in enumerate(zip(seqs, resp, strict=True)):
            ids[k, :len(s)] = torch.tensor(s)
            attn[k, :len(s)] = 1
            mask[k, :len(m)] = torch.tensor(m, dtype=torch.float32)
        return ids.to(device), attn.to(device), mask.to(device)


def seq_logp(model: nn.Module, ids: torch.Tensor, attn: torch.Tensor, mask: torch.Tensor
              ) -> torch.Tensor:
    """Sum of the log-probabilities of the response tokens of each row."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (logp * mask[:, 1:]).sum(-1)


def pair_margins(policy: nn.Module, ref_logp: dict[int, tuple[float, float]], pairs: Pairs,
             idx: Sequence[int], ref: nn.Module, device: torch.device) -> torch.Tensor:
    """``(log pi/ref)(chosen) - (log pi/ref)(rejected)`` per pair (differentiable)."""
    ids, attn, mask = pairs.batch(idx, device)
    missing = [k for k, i in enumerate(idx) if i not in ref_logp]
    if missing:
        with torch.no_grad():
            r = seq_logp(ref, ids, attn, mask).cpu()
        n = len(idx)
        for k in missing:
            ref_logp[idx[k]] = (float(r[k]), float(r[n + k]))
    pi = seq_logp(policy, ids, attn, mask)
    n = len(idx)
    ref_c = torch.tensor([ref_logp[i][0] for i in idx], device=device)
    ref_r = torch.tensor([ref_logp[i][1] for i in idx], device=device)
    return (pi[:n] - ref_c) - (pi[n:] - ref_r)


def evaluate(policy: nn.Module, ref: nn.Module, pairs: Pairs, cache: dict, eval_beta: float,
              device: torch.device, batch: int = 64) -> dict[str, float]:
    margins = []
    with torch.no_grad():
        for k in range(0, len(pairs), batch):
            margins.append(pair_margins(policy, cache, pairs, range(k, min(k + batch, len(pairs))),
                                    ref, device))
    m = torch.cat(margins)
    return {"loss": float(-nn.functional.logsigmoid(eval_beta * m).mean()),
            "margin": float(m.mean()), "accuracy": float((m > 0).float().mean())}

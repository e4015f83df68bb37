"""Modules for the detection ops (compiler/ops/detection.py): anchors, box decoding, the RPN's
proposal filter and the RoI heads' post-processing, as torchvision's Faster R-CNN computes
them, in plain torch (torchvision.ops.nms is a compiled kernel; this NMS is a greedy loop
over the kept boxes, with torchvision's and onnxruntime's rule and order).

Re-exported by torch_helpers; like those, each class uses only `torch`, `nn` and `F` (a
subclass is emitted after its base)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Anchors(nn.Module):
    """torchvision's AnchorGenerator for one feature map: per cell (row-major), one anchor per
    (aspect ratio, size), centred on the cell's corner (i·stride), the stride being the image's
    size // the map's. Zero-centred anchors are rounded half to even, as torch.round does."""

    def __init__(self, sizes, aspect_ratios):
        super().__init__()
        self.sizes, self.aspect_ratios = tuple(sizes), tuple(aspect_ratios)

    def forward(self, image, x):
        sizes = torch.tensor(self.sizes, dtype=x.dtype, device=x.device)
        h_ratios = torch.tensor(self.aspect_ratios, dtype=x.dtype, device=x.device).sqrt()
        ws, hs = ((1 / h_ratios)[:, None] * sizes).view(-1), (h_ratios[:, None] * sizes).view(-1)
        cell = (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()  # A × 4
        (h, w), (ih, iw) = x.shape[-2:], image.shape[-2:]
        ys = torch.arange(h, device=x.device) * (ih // h)
        xs = torch.arange(w, device=x.device) * (iw // w)
        shift_y, shift_x = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([shift_x, shift_y, shift_x, shift_y], dim=-1).reshape(-1, 1, 4)
        return (shifts + cell[None]).reshape(-1, 4)

    def extra_repr(self):
        return f"sizes={self.sizes}, aspect_ratios={self.aspect_ratios}"


class BoxCoder(nn.Module):
    """torchvision's BoxCoder.decode: deltas [R, 4K] (dx, dy, dw, dh per class, over `weights`;
    dw and dh clamped at `clip`) applied to boxes [R, 4] (x1, y1, x2, y2), or [R, 5] with the
    batch index first, give [R, K, 4]; with the image, clipped to it (clip_boxes_to_image)."""

    def __init__(self, weights=(1.0, 1.0, 1.0, 1.0), clip: float = 4.135166556742356):  # log(1000/16)
        super().__init__()
        self.weights, self.clip = tuple(weights), clip

    def forward(self, deltas, boxes, image=None):
        decoded = self.decode(deltas, boxes[:, -4:])
        return decoded if image is None else self.clip_to(decoded, image)

    def decode(self, deltas, boxes):
        widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        ctr_x, ctr_y = boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights
        d = deltas.reshape(deltas.shape[0], -1, 4) / torch.tensor(self.weights, dtype=deltas.dtype,
                                                                  device=deltas.device)
        dw, dh = d[..., 2].clamp(max=self.clip), d[..., 3].clamp(max=self.clip)
        x, y = d[..., 0] * widths[:, None] + ctr_x[:, None], d[..., 1] * heights[:, None] + ctr_y[:, None]
        half_w, half_h = 0.5 * (torch.exp(dw) * widths[:, None]), 0.5 * (torch.exp(dh) * heights[:, None])
        return torch.stack([x - half_w, y - half_h, x + half_w, y + half_h], dim=-1)

    @staticmethod
    def clip_to(boxes, image):
        """x into [0, width], y into [0, height] of the image N×C×H×W."""
        height, width = image.shape[-2:]
        return torch.stack([boxes[..., 0].clamp(0, width), boxes[..., 1].clamp(0, height),
                            boxes[..., 2].clamp(0, width), boxes[..., 3].clamp(0, height)], dim=-1)

    @staticmethod
    def nms(boxes, scores, groups, threshold: float):
        """Indices of the boxes greedy NMS keeps, by descending score (equal scores: the earlier
        box first, as torchvision's kernel and onnxruntime's NonMaxSuppression order them): a
        box goes when its IoU with a kept box of its group is above the threshold. The groups
        run side by side: each step keeps every group's best box still in, and drops the boxes
        it overlaps, so the steps are as many as the most boxes one group keeps."""
        order = torch.sort(scores, descending=True, stable=True).indices
        boxes, groups = boxes[order], groups[order]
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        position = torch.arange(len(order), device=boxes.device)
        alive, kept = torch.ones_like(position, dtype=torch.bool), torch.zeros_like(position, dtype=torch.bool)
        count = int(groups.max()) + 1 if len(order) else 0
        while alive.any():
            best = torch.full((count,), len(order), device=boxes.device).scatter_reduce(
                0, groups[alive], position[alive], "amin")[groups].clamp(max=len(order) - 1)  # each box's group's
            chosen = alive & (best == position)
            sides = torch.minimum(boxes[:, 2:], boxes[best, 2:]) - torch.maximum(boxes[:, :2], boxes[best, :2])
            inter = sides.clamp(min=0).prod(dim=1)
            overlaps = inter / (area + area[best] - inter) > threshold  # a NaN IoU suppresses nothing
            kept |= chosen
            alive &= ~chosen & ~overlaps
        return order[kept]

    def select(self, boxes, scores, valid, groups, images, threshold: float, limit: int):
        """The valid boxes NMS keeps within their groups, image by image (images in order, each
        by descending score), at most `limit` of each image."""
        candidates = valid.nonzero().squeeze(1)
        kept = candidates[self.nms(boxes[candidates], scores[candidates], groups[candidates], threshold)]
        kept = kept[torch.sort(images[kept], stable=True).indices]
        image = images[kept]
        counts = torch.bincount(image, minlength=1)
        rank = torch.arange(len(kept), device=kept.device) - (counts.cumsum(0) - counts)[image]
        return kept[rank < limit]

    def extra_repr(self):
        return f"weights={self.weights}, clip={self.clip:.4f}"


class RPNProposals(BoxCoder):
    """torchvision's RegionProposalNetwork.filter_proposals at inference: per level, each
    image's pre_nms_top_n anchors of highest objectness (cells row-major, anchors within a
    cell), their deltas decoded and clipped; boxes smaller than min_size and sigmoid scores
    below score_thresh dropped; NMS within each level; each image's post_nms_top_n best.
    Inputs: the image, the L levels' objectness N×A×H×W, their deltas N×4A×H×W, their
    anchors [H·W·A, 4]. Out: [R, 5] (batch index, x1, y1, x2, y2), image by image."""

    def __init__(self, pre_nms_top_n: int, post_nms_top_n: int, nms_thresh: float, min_size: float,
                 score_thresh: float, weights=(1.0, 1.0, 1.0, 1.0)):
        super().__init__(weights)
        self.pre_nms_top_n, self.post_nms_top_n, self.nms_thresh = pre_nms_top_n, post_nms_top_n, nms_thresh
        self.min_size, self.score_thresh = min_size, score_thresh

    def forward(self, image, *levels):
        count, n = len(levels) // 3, image.shape[0]
        scores, boxes, level_ids = [], [], []
        for k, (objectness, deltas, anchors) in enumerate(zip(levels[:count], levels[count:2 * count],
                                                              levels[2 * count:])):
            objectness = objectness.permute(0, 2, 3, 1).reshape(n, -1)  # N × H·W·A
            deltas = deltas.reshape(n, -1, 4, *deltas.shape[-2:]).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
            top = torch.sort(objectness, dim=1, descending=True, stable=True).indices[:, :self.pre_nms_top_n]
            picked = deltas.gather(1, top[..., None].expand(-1, -1, 4)).reshape(-1, 4)
            boxes.append(self.decode(picked, anchors[top.reshape(-1)]).reshape(n, -1, 4))
            scores.append(objectness.gather(1, top))
            level_ids.append(torch.full_like(top, k))
        boxes = self.clip_to(torch.cat(boxes, 1), image).reshape(-1, 4)
        scores, level_ids = torch.cat(scores, 1).sigmoid(), torch.cat(level_ids, 1)
        images = torch.arange(n, device=image.device)[:, None].expand_as(level_ids).reshape(-1)
        sides = boxes[:, 2:] - boxes[:, :2]
        valid = (sides >= self.min_size).all(1) & (scores.reshape(-1) >= self.score_thresh)
        kept = self.select(boxes, scores.reshape(-1), valid, images * count + level_ids.reshape(-1), images,
                           self.nms_thresh, self.post_nms_top_n)
        return torch.cat([images[kept, None].to(boxes.dtype), boxes[kept]], dim=1)

    def extra_repr(self):
        return (f"pre_nms_top_n={self.pre_nms_top_n}, post_nms_top_n={self.post_nms_top_n}, "
                f"nms_thresh={self.nms_thresh}, min_size={self.min_size}")


class Detections(BoxCoder):
    """torchvision's RoIHeads.postprocess_detections: softmax class scores; each proposal's box
    decoded per class and clipped; the background class 0 dropped; scores ≤ score_thresh and
    boxes smaller than min_size dropped; NMS within each class of each image; each image's
    detections_per_img best. Inputs: the image, proposals [R, 5], class logits [R, K], box
    deltas [R, 4K]. Out: [D, 7] (batch index, x1, y1, x2, y2, score, label), image by image."""

    def __init__(self, score_thresh: float, nms_thresh: float, detections_per_img: int, min_size: float,
                 weights=(10.0, 10.0, 5.0, 5.0)):
        super().__init__(weights)
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img, self.min_size = detections_per_img, min_size

    def forward(self, image, proposals, logits, deltas):
        classes = logits.shape[1]
        boxes = self.clip_to(self.decode(deltas, proposals[:, 1:]), image)[:, 1:].reshape(-1, 4)
        scores = F.softmax(logits, -1)[:, 1:]  # R × (K−1), proposal-major as torchvision flattens
        labels = torch.arange(1, classes, device=logits.device).expand_as(scores).reshape(-1)
        images = proposals[:, 0].long()[:, None].expand_as(scores).reshape(-1)
        scores = scores.reshape(-1)
        sides = boxes[:, 2:] - boxes[:, :2]
        valid = (scores > self.score_thresh) & (sides >= self.min_size).all(1)
        kept = self.select(boxes, scores, valid, images * classes + labels, images, self.nms_thresh,
                           self.detections_per_img)
        return torch.cat([images[kept, None].to(boxes.dtype), boxes[kept], scores[kept, None],
                          labels[kept, None].to(boxes.dtype)], dim=1)

    def extra_repr(self):
        return (f"score_thresh={self.score_thresh}, nms_thresh={self.nms_thresh}, "
                f"detections_per_img={self.detections_per_img}")

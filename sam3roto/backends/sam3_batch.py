"""The objects of a shot through SAM3's memory attention and mask decoder together.

transformers' ``Sam3TrackerVideoModel.forward`` runs the tracking step one object at a
time (its memory encoder is already batched): with 8 objects, 8 memory attentions and 8
mask decoders per frame, each a few hundred small kernels. On a tracked frame (no new
prompts there, not a keyframe of the object) every object's step is the same computation
on its own memory, so objects whose memories have the same shapes (as many keyframes in
reach and tracked frames behind them: the usual case once tracking is under way) are
stacked on the batch axis and run as one, up to :data:`MAX_GROUP` at a time. Anything else (a keyframe, new prompts,
objects with different memories) goes through the stock per-object code, so the result
is the stock step's in every case.

This follows transformers 5.23's private tracker methods (``_gather_memory_frame_outputs``,
``_build_memory_attention_inputs``, ``_get_object_pointers``, ``_process_object_pointers``,
``_single_frame_forward``, ``_batch_encode_memories``); requirements pin that version.
"""

from __future__ import annotations

from typing import Any

#: Objects per batch: transformers' multi-mask pick makes an (N, N, S, S) tensor of which
#: only the diagonal is used, so the batch is kept small (8 objects at 1008 px in bf16:
#: 128 MB).
MAX_GROUP = 8


def _memory(model: Any, session: Any, obj_idx: int, frame_idx: int, reverse: bool) -> tuple[Any, Any, int, tuple]:
    """One object's memory for ``frame_idx`` as ``_prepare_memory_conditioned_features``
    builds it: ``(memory (T, 1, C), positions (T, 1, C), pointer tokens, layout)``;
    objects with the same ``layout`` stack."""
    import torch

    device = session.inference_device
    previous = model._gather_memory_frame_outputs(session, obj_idx, frame_idx, reverse)
    memories, positions = model._build_memory_attention_inputs(previous, device)
    offsets, pointers, most = model._get_object_pointers(session, obj_idx, frame_idx, session.num_frames, device,
                                                         reverse, True)
    n_pointers = 0
    if pointers:
        obj_ptrs, ptr_pos = model._process_object_pointers(offsets, pointers, most, 1, model.hidden_dim, device)
        if obj_ptrs is not None:
            memories.append(obj_ptrs)
            positions.append(ptr_pos)
            n_pointers = obj_ptrs.shape[0]
    # positions are each object's own; only the shapes (and the pointer count) must agree
    layout = (tuple(m.shape for m in memories), n_pointers)
    memory = torch.cat(memories, dim=0).to(dtype=session.dtype)
    return memory, torch.cat(positions, dim=0), n_pointers, layout


def _track_group(model: Any, session: Any, frame_idx: int, objects: list[int], reverse: bool,
                 memories: dict[int, tuple[Any, Any, int, tuple]]) -> dict[int, dict[str, Any]]:
    """The tracking step of ``objects`` (same memory layout) on ``frame_idx`` as one batch."""
    import torch

    n = len(objects)
    feats, pos = model._prepare_vision_features(session, frame_idx, 1)
    memory = torch.cat([memories[o][0] for o in objects], dim=1)
    positions = torch.cat([memories[o][1] for o in objects], dim=1)
    height, width = model.backbone_feature_sizes[-1]
    fused = model.memory_attention(
        current_vision_features=feats[-1].expand(-1, n, -1),
        current_vision_position_embeddings=pos[-1].expand(-1, n, -1),
        memory=memory,
        memory_posision_embeddings=positions,  # (sic) transformers' keyword
        num_object_pointer_tokens=memories[objects[0]][2],
    )
    # (1, N, HW, C): the stock step's squeeze(1) of (1, 1, HW, C), for N objects
    pix_feat = fused[0].transpose(1, 2).reshape(n, model.hidden_dim, height, width)
    high_res = [x.permute(1, 2, 0).view(x.size(1), x.size(2), *s).expand(n, -1, -1, -1)
                for x, s in zip(feats[:-1], model.backbone_feature_sizes[:-1], strict=True)]
    multimask = model._use_multimask(False, None)
    out = model._single_frame_forward(pixel_values=None, input_points=None, input_labels=None, input_masks=None,
                                      image_embeddings=[*high_res, pix_feat], multimask_output=multimask)

    def pick(t: Any, i: int) -> Any:
        # With several masks per object, transformers picks the best one with index arrays
        # that broadcast to (N, N) for a batch of N; object i's own pick is entry (i, i).
        return t[i, i if multimask and n > 1 else 0][None, None]

    return {o: {"pred_masks": pick(out.pred_masks, i), "object_pointer": pick(out.object_pointer, i),
                "high_res_masks": pick(out.high_res_masks, i),
                "object_score_logits": out.object_score_logits[i:i + 1]}
            for i, o in enumerate(objects)}


def batchable(session: Any, frame_idx: int) -> list[int]:
    """The objects (indices) whose step on ``frame_idx`` is an ordinary tracked frame; none
    when any object has new prompts (the stock step then changes how the others run)."""
    if session.obj_with_new_inputs:
        return []
    return [o for o in range(session.get_obj_num())
            if session.output_dict_per_obj[o]["cond_frame_outputs"]
            and frame_idx not in session.output_dict_per_obj[o]["cond_frame_outputs"]]


def track_frame(model: Any, session: Any, frame_idx: int, frame: Any, reverse: bool) -> Any:
    """One streamed tracking step of every object on ``frame_idx`` (pixels ``frame``), as
    ``model(inference_session=session, frame_idx=frame_idx, frame=frame, reverse=reverse)``
    computes it, with ordinary tracked objects of the same memory layout batched (see the
    module docstring). The stock step when nothing can be batched."""
    import torch

    plain = batchable(session, frame_idx)
    if len(plain) < 2:
        return model(inference_session=session, frame_idx=frame_idx, frame=frame, reverse=reverse)
    session.add_new_frame(frame, frame_idx)
    memories = {o: _memory(model, session, o, frame_idx, reverse) for o in plain}
    groups: dict[tuple, list[int]] = {}
    for o in plain:
        groups.setdefault(memories[o][3], []).append(o)
    batched: dict[int, dict[str, Any]] = {}
    for objects in groups.values():
        for i in range(0, len(objects), MAX_GROUP):
            chunk = objects[i:i + MAX_GROUP]
            if len(chunk) > 1:
                batched.update(_track_group(model, session, frame_idx, chunk, reverse, memories))
    if not batched:
        return model(inference_session=session, frame_idx=frame_idx, frame=frame, reverse=reverse)
    from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
        Sam3TrackerVideoSegmentationOutput,
    )

    # the rest of transformers' forward loop, with the batched objects' outputs put in
    n = session.get_obj_num()
    masks, scores = [], []
    encode: list[int] = []
    for obj_idx in range(n):
        if frame_idx in session.output_dict_per_obj[obj_idx]["cond_frame_outputs"]:  # a keyframe: reused
            pred = session.get_output(obj_idx, frame_idx, "pred_masks", is_conditioning_frame=True)
            logits = session.get_output(obj_idx, frame_idx, "object_score_logits", is_conditioning_frame=True)
        else:
            out = batched.get(obj_idx)
            if out is None:
                out = model._run_single_frame_inference(
                    inference_session=session, obj_idx=obj_idx, frame_idx=frame_idx, batch_size=1,
                    is_init_cond_frame=False, point_inputs=None, mask_inputs=None, reverse=reverse, streaming=True)
            session.store_output(obj_idx, frame_idx, output_value=out, is_conditioning_frame=False)
            pred, logits = out["pred_masks"], out["object_score_logits"]
            if model.num_maskmem > 0:
                encode.append(obj_idx)
            session.frames_tracked_per_obj[obj_idx][frame_idx] = {"reverse": reverse}
        masks.append(pred)
        scores.append(logits.squeeze(-1))
    if encode:
        stored = [session.output_dict_per_obj[o]["non_cond_frame_outputs"][frame_idx] for o in encode]
        model._batch_encode_memories(
            inference_session=session, frame_idx=frame_idx, objects_needing_memory_encoding=encode,
            high_res_masks_for_memory=[out["high_res_masks"] for out in stored],
            object_score_logits_for_memory=[out["object_score_logits"] for out in stored],
            is_mask_from_pts_per_obj=[False] * len(encode))
    return Sam3TrackerVideoSegmentationOutput(
        object_ids=session.obj_ids.copy(), pred_masks=torch.cat(masks, dim=0) if n > 1 else masks[0],
        object_score_logits=torch.cat(scores, dim=0) if n > 1 else scores[0], frame_idx=frame_idx)


def condition_alone(model: Any, session: Any, obj_id: int, frame_idx: int) -> None:
    """Make the mask input just given to new object ``obj_id`` its keyframe on
    ``frame_idx`` without running the other objects again (transformers' step would re-run
    every object without a keyframe there and re-encode their memories): the branch of
    its forward for an object with new inputs on its first frame, for this object alone."""
    obj_idx = session.obj_id_to_idx(obj_id)
    mask_inputs = session.mask_inputs_per_obj[obj_idx].get(frame_idx)
    if mask_inputs is None:
        raise ValueError(f"object {obj_id} has no mask input on frame {frame_idx}")
    if obj_id in session.obj_with_new_inputs:
        session.obj_with_new_inputs.remove(obj_id)
    out = model._run_single_frame_inference(
        inference_session=session, obj_idx=obj_idx, frame_idx=frame_idx, batch_size=1, is_init_cond_frame=True,
        point_inputs=None, mask_inputs=mask_inputs, reverse=False, streaming=True)
    session.store_output(obj_idx, frame_idx, output_value=out, is_conditioning_frame=True)
    if model.num_maskmem > 0:
        model._batch_encode_memories(
            inference_session=session, frame_idx=frame_idx, objects_needing_memory_encoding=[obj_idx],
            high_res_masks_for_memory=[out["high_res_masks"]],
            object_score_logits_for_memory=[out["object_score_logits"]], is_mask_from_pts_per_obj=[True])

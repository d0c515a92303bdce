"""Tiny randomly initialised SAM3 models built from configs (no weights), for CPU tests.

They run through exactly the adapter code that real weights use. Sizes follow
../shared/notes/ml_backends.md (112 px input, 8x8 tokens, hidden 128).
"""

from __future__ import annotations

from tests.torchvision_shim import install as install_torchvision_shim

IMG, PATCH = 112, 14
TOK = IMG // PATCH
H = 128


def _clip_tokenizer():  # type: ignore[no-untyped-def]
    """A byte-level CLIP tokenizer: 512 byte tokens + start/end, no merges."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    return CLIPTokenizer(vocab=vocab, merges=[])


def build_tiny_models(text: bool = True):  # type: ignore[no-untyped-def]
    install_torchvision_shim()
    import torch
    from transformers import (
        Sam3Config,
        Sam3ImageProcessor,
        Sam3Model,
        Sam3Processor,
        Sam3TrackerVideoConfig,
        Sam3TrackerVideoModel,
        Sam3TrackerVideoProcessor,
    )
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    from sam3roto.backends.sam3 import Sam3Models

    torch.manual_seed(0)
    feat = [[TOK * 4] * 2, [TOK * 2] * 2, [TOK] * 2]
    vit = dict(model_type="sam3_vit_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=2, image_size=IMG, patch_size=PATCH, window_size=4, global_attn_indexes=[1],
               pretrain_image_size=IMG)
    vision = dict(backbone_config=vit, fpn_hidden_size=H, backbone_feature_sizes=feat)
    tracker_cfg = dict(
        vision_config=dict(model_type="sam3_vision_model", **vision),
        prompt_encoder_config=dict(hidden_size=H, image_size=IMG, patch_size=PATCH, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=H, mlp_dim=64, num_hidden_layers=1, num_attention_heads=2,
                                 iou_head_depth=2, iou_head_hidden_dim=H),
        image_size=IMG, num_maskmem=3, max_object_pointers_in_encoder=4, max_cond_frame_num=2,
        memory_attention_hidden_size=H, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[TOK, TOK], memory_encoder_hidden_size=H, memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=H, memory_fuser_num_layers=1, memory_fuser_embed_dim=H,
        memory_fuser_intermediate_dim=64)
    size = {"height": IMG, "width": IMG}
    image_processor = Sam3ImageProcessor(size=size, mask_size={"height": 4 * TOK, "width": 4 * TOK})
    video_processor = Sam2VideoVideoProcessor(size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    tracker = Sam3TrackerVideoModel(Sam3TrackerVideoConfig(**tracker_cfg)).eval()
    tracker_processor = Sam3TrackerVideoProcessor(image_processor, video_processor)
    detector = detector_processor = None
    if text:
        text_cfg = dict(model_type="clip_text_model", vocab_size=514, hidden_size=32, intermediate_size=64,
                        projection_dim=32, num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=32,
                        bos_token_id=512, eos_token_id=513, pad_token_id=513)
        small = dict(hidden_size=H, num_layers=1, num_attention_heads=2, intermediate_size=64)
        detector = Sam3Model(Sam3Config(
            vision_config=vision, text_config=text_cfg, geometry_encoder_config=small, detr_encoder_config=small,
            detr_decoder_config=dict(small, num_queries=8),
            mask_decoder_config=dict(hidden_size=H, num_attention_heads=2),
        )).eval()
        # one checkpoint holds one backbone for both (as facebook/sam3 does): the engine ties them
        detector.vision_encoder.backbone.load_state_dict(tracker.vision_encoder.backbone.state_dict())
        detector_processor = Sam3Processor(image_processor, _clip_tokenizer())
    return Sam3Models(tracker, tracker_processor, detector, detector_processor)

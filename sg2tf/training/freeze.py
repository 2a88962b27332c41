"""Which variables transfer learning freezes: `--freezed` (D) and `--freeze_g`/`--freeze_mapping` (G).

`--freezed=N` freezes D's first N layers in forward order, counted as the official
stylegan2-ada-pytorch code counts them (Freeze-D): per block from the top resolution,
`fromrgb` (the first block, or every block with the `skip` architecture), `conv0`, `conv1`,
then `skip` (`resnet`) as a layer of its own. The 4x4 epilogue (conv, fc, out) is never
frozen there; the TF StyleGAN2-ADA code would go on into its 4x4 conv and dense layer for N
past the blocks' layers.

`--freeze_g=RES` freezes G's synthesis blocks below RES and `--freeze_mapping` G's mapping
network (l4rz's transfer recipe froze G_mapping and the 4x4-256x256 synthesis blocks).
"""


def d_layers(D):
    """D's freezable layers in the official order: `[block/layer]`, e.g. `b32/fromrgb`."""
    layers = []
    for block in D.blocks:
        names = ["fromrgb"] if block.fromrgb is not None else []
        names += ["conv0", "conv1"] + (["skip"] if block.skip is not None else [])
        layers.extend(f"{block.name}/{n}" for n in names)
    return layers


def freeze_filter_d(D, freezed):
    """Paths of D's variables frozen by `--freezed=N`: its first N layers (`d_layers`)."""
    if freezed <= 0:
        return set()
    prefixes = [f"/{layer}/" for layer in d_layers(D)[:freezed]]
    return {v.path for v in D.trainable_variables if any(p in f"/{v.path}" for p in prefixes)}


def freeze_filter_g(G, freeze_res, mapping=False):
    """Paths of G's variables frozen by `--freeze_g=RES` (synthesis blocks below RES) and
    `--freeze_mapping` (the mapping network)."""
    frozen = set()
    for block in G.synthesis.blocks:
        if block.resolution < freeze_res:
            frozen.update(v.path for v in G.trainable_variables if f"/synthesis/{block.name}/" in f"/{v.path}")
    if mapping:
        frozen.update(v.path for v in G.trainable_variables if f"/{G.mapping.name}/" in f"/{v.path}")
    return frozen

namespace Slim.Models;

/// <summary>
/// The frameworks build some architectures a little differently, and pretrained weights only fit the form they were
/// trained in. Where the forms agree (MobileNetV1, ResNet50) the layout changes nothing.
/// </summary>
public enum ModelLayout
{
    /// <summary>
    /// PaddleDetection/PaddleClas: every MobileNetV2/V3 unit has its 1×1 expansion, even at expansion 1; MobileNetV3's
    /// squeeze-excitation has channels/4 units; the first block of every ResNet18/34 stage projects its shortcut; the
    /// MobileNetV3 classifier's hidden layer (Paddle's last_conv, a 1×1 conv) has no bias.
    /// </summary>
    Paddle,

    /// <summary>
    /// torchvision: no expansion where it would keep the width; MobileNetV3's squeeze-excitation rounds channels/4 to a
    /// multiple of 8; a ResNet projects only where width or stride change; the MobileNetV3 hidden layer has a bias.
    /// </summary>
    Torchvision,
}

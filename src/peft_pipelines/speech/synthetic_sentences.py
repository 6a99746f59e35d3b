"""Everyday simplified-Chinese sentences: the pretraining text of the synthetic demo base.

Why this exists
---------------
The ``whisper_demo_base`` pipeline pretrains a tiny Whisper from scratch on
espeak-ng speech before ``whisper_zh`` fine-tunes it on the bundled corpus
(``data/01_raw/common_voice_zh_sample``). No transcribed Mandarin can be had
offline, so the pretraining text is made here: about two dozen templates
(subject + time + place + verb-object, adjective predicates with 很 / 有点 /
非常, 想 / 要 / 喜欢 + verb phrase, 有 + number + measure word + noun,
imperatives with 请, questions with 吗 / 吧 / 呢, ...) filled from slot lists
of everyday words, with the slots paired so that the sentences stay plausible
(去公园散步, never 去厨房上班).

The vocabulary is closed on purpose: small enough for a tiny model to learn
from a few thousand clips, and holding every character of the bundled
corpus's sentences, so that fine-tuning and evaluation meet no character the
base has never heard. The corpus sentences themselves are passed as
``exclude``, so that the base never hears an evaluation sentence.

Readings: ``espeak.to_pinyin`` reads the sentences with pypinyin, which reads
characters mostly out of context. Words it misreads here are fixed in
``espeak.PINYIN_FIXES`` (只 as a measure word, 长 as "long") or not used at
all (还, 教 as a verb, ordinal 一 as in 一楼, whose tone change
``to_pinyin`` would get wrong).
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import cache

SENTENCE_RE = re.compile(r"^[\u4e00-\u9fff]{5,12}$")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _table(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """``key: word word ...`` lines, in order."""
    rows = []
    for line in text.strip().splitlines():
        key, _, words = line.partition(":")
        rows.append((key.strip(), _words(words)))
    return rows


def _split(words: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Words before and after a ``/``: (positive, negative) adjectives."""
    if "/" not in words:
        return words, ()
    at = words.index("/")
    return words[:at], words[at + 1 :]


# --- slot lists -------------------------------------------------------------

_YOU = ("你", "你们")
_PEOPLE = _words(
    "我 他 她 我们 他们 妈妈 爸爸 奶奶 爷爷 姐姐 哥哥 妹妹 弟弟 老师 朋友 小明 小红 同学们 孩子们 老人"
)
_SUBJECTS = _PEOPLE + _YOU
_FAMILY = _words("我 他 她 妈妈 爸爸 奶奶 爷爷 姐姐 哥哥 妹妹 弟弟 朋友 小明 小红 老师")
_PLURAL = ("我们", "他们", "你们", "同学们", "孩子们")
_OWNERS = _words(
    "我的 你的 他的 她的 妈妈的 爸爸的 奶奶的 爷爷的 姐姐的 哥哥的 妹妹的 弟弟的 老师的 朋友的 小明的"
)
# The possessive that goes with a subject, for 找不到 ... .
_OWN = {
    "我": "我的",
    "你": "你的",
    "他": "他的",
    "她": "她的",
    "妈妈": "她的",
    "爸爸": "他的",
    "奶奶": "她的",
    "爷爷": "他的",
    "姐姐": "她的",
    "哥哥": "他的",
    "妹妹": "她的",
    "弟弟": "他的",
    "小明": "他的",
    "小红": "她的",
}

_TIMES = _words("今天 每天 早上 下午 晚上 周末 星期天 春天 夏天 冬天")
_PAST = _words("昨天 昨天晚上 前天 刚才 上周末 去年")
_FUTURE = _words("明天 后天 明天早上 明天下午 今天晚上 下午 晚上 周末 下周 星期五")
_NUMBERS = _words("一 两 三 四 五 六 七 八 九 十")
_FEW = _words("一 两 三")

# Place: what people do there. A place marked * is not a 去 destination.
_PLACES = _table("""
公园: 散步 跑步 玩 下棋 打球 看花
图书馆: 看书 学习 读书 写作业 借书
学校: 上课 学习 打篮球 踢足球 学中文
家*: 休息 做饭 看电视 写作业 睡觉 看电影 打扫房间 洗衣服 听音乐 画画
厨房*: 做饭 洗碗 做蛋糕 煮面条
超市: 买菜 买水果 买东西 买牛奶 买米 买鸡蛋
医院: 看病 工作 看医生
银行: 工作 取钱 办事
公司: 上班 开会 工作 加班
河边: 散步 钓鱼 跑步 看风景
海边: 游泳 散步 玩 看日出
饭店: 吃饭 吃晚饭 吃面条 吃午饭
商店: 买东西 买衣服 买鞋
咖啡馆: 喝咖啡 看书 聊天 等朋友
教室: 上课 写作业 学习 唱歌
体育馆: 打篮球 游泳 跳舞 打球
火车站: 等火车 买票 接人
机场: 等飞机 接朋友 送朋友
楼下: 散步 等人 跑步 等车
门口*: 等人 等车 等朋友
山上: 看风景 拍照 玩
北京: 旅游 工作 读书 开会
上海: 旅游 工作 读书 开会
国外: 读书 工作 旅游
农村: 看奶奶 看爷爷 种菜
城里: 买东西 看电影 工作
长城: 旅游 拍照 玩
""")

# Verb phrases for 喜欢 / 想 / 会 / 正在 ...
_ACTIVITIES = _words(
    "喝茶 喝咖啡 喝牛奶 喝水 吃水果 吃苹果 吃西瓜 吃面条 吃蛋糕 吃鸡蛋 吃鱼 吃米饭 "
    "看书 看电影 看电视 看报纸 听音乐 听歌 唱歌 跳舞 画画 游泳 跑步 爬山 散步 旅游 "
    "打篮球 踢足球 下棋 做饭 骑自行车 开车 写字 学中文 买东西 睡觉 休息 拍照 钓鱼 "
    "养花 讲故事 坐船 坐火车 坐飞机 做蛋糕 打电话 吃甜的 吃辣的 读书 吃新鲜的水果"
)
# Things worth going out for: 去 + these.
_OUTINGS = _words(
    "吃饭 爬山 跑步 散步 游泳 看电影 打篮球 踢足球 买东西 旅游 钓鱼 买菜 喝咖啡 唱歌 玩"
)
_WANTS = _words(
    "喝一杯水 喝一杯茶 喝一杯咖啡 吃一个苹果 吃一碗面条 买一双新鞋 买一件新衣服 买一本书 "
    "看一部电影 唱一首歌 休息一下 学做蛋糕 买一束花 买一辆自行车 养一只小猫 养一只小狗 "
    "努力学习 努力工作 去理发 修一下电脑 买一张地图 买一些新鲜的水果 看一部新电影"
)
_NEEDS = _words(
    "休息一下 喝一杯水 买一张地图 修一下电脑 去理发 买一些新鲜的水果 买一点米 看医生 早点睡觉"
)
_SKILLS = _words(
    "游泳 开车 做饭 说中文 唱歌 跳舞 画画 下棋 骑自行车 打篮球 写汉字 做蛋糕 踢足球 讲故事 说英语"
)
_SPORTS = _words("跑步 爬山 打篮球 踢足球 游泳 骑自行车")
_DOING = _words(
    "上课 开会 打电话 做饭 写作业 洗衣服 洗碗 看电视 睡觉 休息 看书 画画 唱歌 跳舞 下棋 "
    "打篮球 游泳 跑步 散步 听音乐 买菜 等车 工作 学习中文 做蛋糕 打扫房间 看报纸 喝茶 "
    "修理电脑 修自行车 写作文 找钥匙 找手机 大声说话"
)

# Noun with its measure word (+ if 这些 ... fits): good / bad adjectives.
_NOUNS = _table("""
苹果 个+: 甜 新鲜 好吃 红 圆 便宜 / 贵 小
西瓜 个+: 甜 新鲜 大 好吃 圆 便宜 / 贵
蛋糕 个: 好吃 漂亮 便宜 / 贵 甜
房间 个+: 干净 安静 大 亮 / 小 冷 热
教室 个+: 干净 安静 大 亮 / 小 热
问题 个+: 简单 重要 有意思 / 难
孩子 个+: 聪明 可爱 安静 / 调皮
城市 个: 漂亮 干净 安静 大 / 冷 热
公园 个: 漂亮 安静 大 干净 / 小 远
图书馆 个: 安静 大 干净 / 远 小
包 个: 漂亮 好看 便宜 / 重 贵 旧 小
手机 个: 好用 新 便宜 / 贵 旧
手机 部: 好用 新 便宜 / 贵 旧
故事 个+: 有意思 好听 简单 / 长
窗户 个: 大 干净 / 小
杯子 个+: 干净 漂亮 便宜 / 小 旧
学校 个: 大 漂亮 安静 / 远 小
路 条: 干净 安静 / 长 远
河 条: 干净 漂亮 / 长
裙子 条+: 漂亮 好看 便宜 / 长 贵
鱼 条+: 新鲜 大 漂亮 便宜 / 小
衣服 件+: 漂亮 好看 干净 新 便宜 / 贵 旧 大 小
事情 件+: 重要 简单 有意思 / 难
书 本+: 有意思 新 好看 便宜 简单 / 贵 旧 难
鞋 双+: 漂亮 好看 舒服 新 便宜 / 贵 旧 大 小
山 座+: 高 漂亮 / 远
楼 座: 高 新 漂亮 / 旧
桥 座: 漂亮 新 / 长 旧
桌子 张+: 干净 新 大 便宜 / 旧 小
床 张: 舒服 大 新 干净 / 小 旧
菜 道+: 好吃 香 新鲜 简单 便宜 / 辣 咸 甜
汤 碗: 好喝 热 香 / 咸 辣
面条 碗: 好吃 香 便宜 / 辣 咸
茶 杯: 好喝 热 香 甜 / 苦
咖啡 杯: 好喝 热 香 / 苦 甜
电影 部+: 好看 有意思 / 长
歌 首+: 好听 简单 / 长
电脑 台: 新 好用 便宜 / 贵 旧 慢
车 辆: 新 漂亮 快 便宜 / 贵 旧
商店 家+: 大 干净 便宜 / 小 贵 远
饭店 家: 干净 大 有名 安静 便宜 / 贵 远
咖啡馆 家: 安静 干净 / 贵 小
超市 家: 大 近 便宜 / 远 小
树 棵+: 高 大 / 老
花 束: 漂亮 好看 香 便宜 /
花 朵+: 漂亮 好看 香 红 / 小
狗 只: 可爱 聪明 / 大 小 老
猫 只: 可爱 聪明 漂亮 / 小
鸟 只: 漂亮 可爱 聪明 / 小
""")

_COLOURS = _words("红 黑 白 绿 蓝 黄")
_COLOURED = _words("猫 狗 鞋 包 车 衣服 裙子 杯子 手机 花 桌子")

# Things a person has (with 我的 ...), beyond those in _NOUNS: good / bad.
_BELONGINGS = _words("房间 衣服 书 鞋 手机 电脑 包 车 杯子 狗 猫 桌子 床 孩子")
_TRAITS = _table("""
眼睛: 大 漂亮 / 小
声音: 好听 大 / 小
字: 漂亮 好看 / 小
头发: 长 黑 漂亮 /
个子: 高 / 矮
工作: 重要 有意思 简单 / 忙 累
中文: 好 /
房子: 大 新 漂亮 / 旧 小
书包: 漂亮 新 / 重 旧
""")
# Other topics: good / bad.
_TOPICS = _table("""
今天的作业: 简单 / 多 少 难
超市里的人: / 多 少
超市里的东西: 便宜 新鲜 / 贵
这里的东西: 便宜 新鲜 / 贵
这里的水果: 便宜 新鲜 甜 / 贵
海边的风: 舒服 / 大
外面的风: / 大 冷
这里的冬天: / 冷 长
北京的冬天: / 冷 长
上海的夏天: / 热 长
山上的空气: 新鲜 好 /
这里的空气: 新鲜 好 /
河里的水: 干净 清 / 冷
公园里的花: 漂亮 香 / 多 少
公园里的人: / 多 少
这里的菜: 好吃 新鲜 / 辣 贵
这家饭店的菜: 好吃 新鲜 / 贵 辣
路上的车: / 多 少
教室里: 安静 干净 / 热 冷
图书馆里: 安静 干净 / 热 冷
我家: 大 干净 安静 / 小 远
今天晚上的月亮: 圆 亮 / 大
昨天晚上的月亮: 圆 亮 / 大
今天的天气: 好 / 冷 热
""")

# Where things are: measure word + noun that can be there.
_CONTENTS = _table("""
桌子上: 个杯子 本书 个苹果 张纸 个碗 束花 个手机 杯茶 杯咖啡 个蛋糕 个西瓜 把钥匙
书包里: 本书 把钥匙 张纸 个苹果 个杯子 个手机 个蛋糕
冰箱里: 个鸡蛋 瓶牛奶 个西瓜 个苹果 碗汤 条鱼 个蛋糕
房间里: 张床 张桌子 个窗户 台电脑 把椅子
教室里: 个学生 张桌子 个老师 个窗户 台电脑 块黑板
公园里: 棵大树 只小狗 个孩子 个老人 只小鸟
河里: 条鱼 条船 条小鱼
河上: 座桥 条船
城市里: 座高楼 家医院 个公园 家银行
树上: 只鸟 个苹果 只小鸟
门口: 个人 辆车 只狗 辆自行车
窗外: 棵大树 只小鸟 棵树
楼下: 家小店 辆车 家超市 家饭店 家咖啡馆 家银行
我家: 只小猫 只狗 个孩子 条鱼 台电脑 辆车
他家: 只小猫 只狗 个孩子 条鱼 辆车
奶奶家: 只小猫 只鸡 只狗 棵大树
山上: 棵树 只鸟 座房子
路边: 棵树 家商店 辆车 家饭店
""")

# 把 + object + result.
_BA = _table("""
门: 关上 打开
窗户: 关上 打开
电视: 关上 打开
电脑: 关上 打开
灯: 关上 打开
作业: 做完 写完 交给老师
衣服: 洗干净 穿上 放好
房间: 打扫干净
桌子: 擦干净
黑板: 擦干净
碗: 洗干净 放好
水果: 洗干净 放好
书: 放好 放在桌子上 给我
牛奶: 喝完 放进冰箱
汤: 喝完
钥匙: 给我 放好 带上
名字: 写在这里 写在纸上
手机: 给我 放在桌子上
""")

# Verb: measure word + object, for 买了一双鞋 ...
_DONE_WITH = _table("""
买: 双鞋 双新鞋 件衣服 件新衣服 本书 斤苹果 个西瓜 束花 辆自行车 个蛋糕 斤米 个手机
喝: 杯茶 杯咖啡 杯牛奶 碗汤 杯水
吃: 碗面条 个苹果 个鸡蛋 块蛋糕 碗米饭
看: 部电影 本书
写: 封信 篇作文
唱: 首歌
讲: 个故事
画: 张画
借: 本书
做: 个蛋糕 道菜 碗汤
""")
_FOR_SOMEONE = ("买", "做", "讲", "画", "写", "唱")
# Verb + 过: things one has (not) done.
_EXPERIENCES = _table("""
去过: 北京 上海 长城 国外 农村 海边 那个公园 那家饭店 他家
吃过: 西瓜 饺子 这道菜 这种面条
看过: 这部电影 这本书 大海
听过: 这首歌 这个故事
坐过: 飞机 火车 船 地铁
""")

# Sent things and kept animals: measure word + noun.
_GIFTS = _words("束花 本书 个蛋糕 双鞋 件衣服 辆自行车 个杯子 只小狗 只小猫 个包 个手机 张画")
_PETS = _words("只小猫 只小狗 只猫 只狗 条鱼 条小鱼 只鸟 只鸡 只小鸟")

_WEATHER_STATES = _words(
    "天气很好 天气不错 很冷 很热 特别冷 非常热 有点冷 有点热 很暖和 很凉快 风很大 是晴天 是阴天"
)
_WEATHER_FORECAST = _words("可能会下雨 可能会下雪 会下雨 会下雪 会很冷 会刮风 会很热 可能是晴天")
_WEATHER_NOW = _words(
    "下雨了 下雪了 风停了 雨停了 雪停了 天晴了 天黑了 刮风了 很冷 很热 有点冷 风很大 下大雨了"
)
_SEASONS = _table("""
冬天: 冷
今年冬天: 冷
冬天的早上: 冷
北京的冬天: 冷
夏天: 热
今年夏天: 热
夏天的中午: 热
上海的夏天: 热
春天: 暖和
这里的春天: 暖和
秋天: 凉快
北京的秋天: 凉快
""")

_VEHICLES = _table("""
坐公交车: 去学校 去公司 去医院 去超市 去公园 去机场 去火车站 去银行 上班 上学 回家
坐地铁: 去学校 去公司 去医院 去超市 去公园 去机场 去火车站 去银行 上班 上学 回家
坐出租车: 去医院 去机场 去火车站 去公司 回家
骑自行车: 去学校 去公司 去超市 去公园 去银行 上班 上学 回家
开车: 去学校 去公司 去医院 去超市 去机场 去火车站 上班 回家
走路: 去学校 去公司 去超市 去公园 上班 上学 回家
坐火车: 去北京 去上海 回家 去旅游
坐飞机: 去北京 去上海 回家 去国外
坐船: 过河 去上海 去海边
""")

_JOBS = _words("医生 老师 司机 警察 工人 厨师 护士 记者 画家 歌手")
_FRIENDS = _words("好朋友 老师 同学 邻居 中文老师 好同学")

_CLOCK = _table("""
早上 六 七 八: 起床 出门 吃早饭 跑步 出发
晚上 九 十: 睡觉 洗澡 看书
晚上 六 七 八: 吃晚饭 回家 看电视
下午 三 四 五: 下班 回家 喝茶 去散步
中午 十二: 吃午饭 休息
""")
_MEETINGS = _words("见面 开会 出发 上课 回家 吃饭")

_HOMES = _words(
    "农村 北京 上海 城市里 学校旁边 河边 海边 山下 我家楼下 公园旁边 二楼 三楼 五楼 六楼"
)
_FLOORS = _words("二楼 三楼 四楼 五楼 六楼 八楼")
_SITES = _words("我家 他家 奶奶家 学校 公司 医院 超市 银行 公园 火车站 机场 图书馆 这里")
_DISTANCES = _words("很近 很远 不远 有点远 非常近 特别远 不太远")

_FEELINGS = _table("""
开心: 很 非常 特别 不太
高兴: 很 非常 特别 不太
累: 很 有点 非常 特别 不太
忙: 很 有点 非常 特别 不太
饿: 很 有点 非常 不太
渴: 很 有点 非常 不太
困: 很 有点 非常 不太
冷: 很 有点 不太
紧张: 很 有点 非常 不太
""")

# Free or not.
_BUSY = _words("有空 没有空 没空 有很多事情要做 有一件重要的事情 有一个问题 没有问题 有点不舒服")

# Verb + 得: adjectives that describe how.
_MANNER = _table("""
跑: 快 慢
游: 快 好 慢
唱: 好 好听
跳: 好 好看 高
写: 好 好看 快 漂亮
说: 快 慢 好 清楚
走: 快 慢
吃: 多 少 快 慢
睡: 好 早 晚 香
画: 好 好看 漂亮
来: 早 晚
起: 早 晚
""")

_SOON = _table("""
火车: 开了 到了
公交车: 开了 到了
地铁: 到了 开了
飞机: 起飞了 到了
电影: 开始了 结束了
比赛: 开始了 结束了
商店: 关门了 开门了
超市: 关门了 开门了
银行: 关门了
我们: 出发了 上课了 下班了 回家了 到家了
他们: 出发了 到了 回来了 吃饭了
""")
_HURRY = _table("""
天黑了: 快回家吧 快走吧 我们回家吧 快开灯吧
下雨了: 快回家吧 快进来吧 快走吧
下雪了: 快回家吧 快进来吧
太晚了: 快回家吧 快睡觉吧 早点休息吧 我们回家吧
时间不早了: 快回家吧 快睡觉吧 早点休息吧 我们走吧
""")

_MONTHS = _words("二 三 四 五 六 七 八 九 十 十二")
_DAYS = _words("二 三 四 五 六 七 八 九 十 二十")
_WEEKDAYS = _words("星期二 星期三 星期四 星期五 星期六 星期天 周末 我的生日 妈妈的生日")

_PLEASE_DO = _words(
    "坐下来 进来 慢一点说 说慢一点 大声一点 等一下 跟我来 安静一点 早点休息 多喝水 "
    "关上门 打开窗户 坐下来喝杯茶 看黑板 明天再来 唱一首歌 闭上眼睛 小心过马路 小声一点 小声说话 坐在这个座位上"
)
_PLEASE_GIVE = _words(
    "杯水 杯茶 杯咖啡 杯牛奶 张纸 本书 个苹果 个杯子 碗面条 碗汤 碗米饭 双筷子 把钥匙 把椅子"
)
_PLEASE_HELP = _words(
    "买牛奶 买一瓶水 拿一下书包 关一下门 开一下窗户 看一下作业 叫一辆车 拿一杯水 找一下钥匙 修一下电脑 买一张票"
)
_ASK_WAY = _words("银行 医院 图书馆 超市 火车站 机场 公园 咖啡馆 饭店 洗手间 体育馆 地铁站")
_RULES = _table("""
这里: 停车 游泳 吃东西 大声说话 拍照 踢球 玩手机
那里: 停车 游泳 拍照
教室里: 吃东西 大声说话 玩手机
图书馆里: 吃东西 大声说话 拍照
医院里: 大声说话 吃东西
河里: 游泳 钓鱼
门口: 停车
""")
_MAY_I = _words("坐这里 进来 用你的电脑 看看你的书 走了 喝一杯水 开窗户 回家 在这里拍照")

_FORGOT = _words(
    "带钥匙 带手机 带书包 关门 关灯 关窗户 写作业 买牛奶 吃早饭 吃药 带伞 给妈妈打电话"
)
_DONE = _words(
    "吃早饭 吃午饭 吃晚饭 起床 回家 睡觉 洗澡 写完作业 做完作业 听懂 看懂 到家 出发 下班 放学 买菜 看医生 到学校 吃药"
)
_ITEMS = _words("钥匙 手机 书包 杯子 书 衣服 鞋 作业 电脑 包 眼镜")
_SPOTS = _words("桌子上 书包里 床上 椅子上 房间里 门口 厨房里")
_BROKEN = _words("电脑 手机 自行车 电视 空调 车 门 灯 椅子 冰箱")

_MEALS = _table("""
早饭: 鸡蛋 牛奶 面包 包子 水果
午饭: 米饭 面条 鱼 青菜 鸡蛋
晚饭: 米饭 面条 鱼 青菜 饺子 水果
""")
_AFTER = _words("晚饭后 午饭后 下课后 下班后 放学后")
_EVENING = _words("散步 跑步 游泳 打篮球 看电影 买东西 唱歌 玩 下棋 喝咖啡")

# --- helpers -----------------------------------------------------------------


def _ask(subject: str, predicate: str) -> str:
    """A statement, or a 吗 question when it is said to 你 / 你们."""
    sentence = subject + predicate
    return sentence + "吗" if subject in _YOU else sentence


def _fits(subject: str, rest: str) -> bool:
    """False when a two-character subject comes back in ``rest`` (奶奶 ... 看奶奶),
    when children go to work or when grandparents go to school."""
    if len(subject) > 1 and subject in rest:
        return False
    if subject in ("孩子们", "同学们") and any(w in rest for w in ("上班", "公司", "加班", "开会")):
        return False
    return subject not in ("爷爷", "奶奶", "老人") or not any(w in rest for w in ("上学", "放学"))


def _time_first(time: str, subject: str, rest: str) -> Iterator[str]:
    """The same statement with its time word moved before the subject (周末我们去爬山)."""
    if time and time != "每天" and subject not in _YOU:
        yield time + subject + rest.removeprefix(time)


def _degrees(adjective: str, negative: bool) -> tuple[str, ...]:
    """很 / 非常 / 特别 / 不太 + adjective; 有点 and 太 ... 了 only for bad ones, 真 for good ones."""
    forms = tuple(degree + adjective for degree in ("很", "非常", "特别", "不太"))
    if negative:
        return (*forms, "有点" + adjective, "太" + adjective + "了")
    return (*forms, "真" + adjective)


def _graded(words: tuple[str, ...]) -> Iterator[str]:
    """Every degree form of the good / bad adjectives in ``words``."""
    good, bad = _split(words)
    for adjective in good:
        yield from _degrees(adjective, negative=False)
    for adjective in bad:
        yield from _degrees(adjective, negative=True)


def _nouns() -> Iterator[tuple[str, str, bool, tuple[str, ...], tuple[str, ...]]]:
    """(noun, measure word, 这些 fits, good adjectives, bad adjectives)."""
    for key, words in _NOUNS:
        noun, measure = key.split()
        good, bad = _split(words)
        yield noun, measure.rstrip("+"), measure.endswith("+"), good, bad


# --- templates -----------------------------------------------------------------


def _at_place() -> Iterator[str]:
    """妈妈今天在家做饭 / 你周末在公园散步吗."""
    for subject in _SUBJECTS:
        for time in ("", *_TIMES):
            for place, activities in _PLACES:
                for activity in activities:
                    rest = f"{time}在{place.rstrip('*')}{activity}"
                    if _fits(subject, rest):
                        yield _ask(subject, rest)
                        yield from _time_first(time, subject, rest)


def _go_to_place() -> Iterator[str]:
    """我们周末去公园散步 / 他明天想去图书馆看书."""
    for subject in _SUBJECTS:
        for time in ("", "明天", "后天", "周末", "下午", "今天晚上", "每天"):
            for modal in ("", "想"):
                for place, activities in _PLACES:
                    if place.endswith("*"):
                        continue
                    for activity in activities:
                        rest = f"{time}{modal}去{place}{activity}"
                        if _fits(subject, rest):
                            yield _ask(subject, rest)
                            yield from _time_first(time, subject, rest)


def _describe() -> Iterator[str]:
    """这个苹果很甜 / 那条路有点远 / 这些书非常有意思."""
    for noun, measure, plural, good, bad in _nouns():
        demonstratives = ["这" + measure, "那" + measure]
        if plural:
            demonstratives += ["这些", "那些"]
        for demonstrative in demonstratives:
            for predicate in _graded((*good, "/", *bad)):
                yield demonstrative + noun + predicate
            if "便宜" in good:
                yield demonstrative + noun + "多少钱"
        if noun in _COLOURED:
            for colour in _COLOURS if noun not in ("猫", "狗") else ("黑", "白", "黄"):
                yield f"{demonstratives[0]}{noun}是{colour}色的"
        if noun in ("苹果", "西瓜", "蛋糕", "鱼", "面条", "汤"):
            yield f"{demonstratives[0]}{noun}坏了"
    for hobby in _SKILLS + _SPORTS:
        for predicate in ("很有意思", "非常有意思", "很好玩", "很简单", "不太难", "有点难"):
            yield hobby + predicate
    for sport in _SPORTS:
        for predicate in ("很累", "有点累", "非常累"):
            yield sport + predicate


def _possessed() -> Iterator[str]:
    """我的房间很干净 / 她的眼睛很大 / 超市里的人很多."""
    adjectives = {noun: (*good, "/", *bad) for noun, _, _, good, bad in _nouns()}
    things = [(noun, adjectives[noun]) for noun in _BELONGINGS] + _TRAITS
    for owner in _OWNERS:
        for noun, words in things:
            for predicate in _graded(words):
                yield owner + noun + predicate
    for topic, words in _TOPICS:
        for predicate in _graded(words):
            yield topic + predicate


def _there_is() -> Iterator[str]:
    """桌子上有三个杯子 / 书包里有一把钥匙 / 公园里有很多孩子."""
    for place, things in _CONTENTS:
        for thing in things:
            for number in _NUMBERS:
                yield f"{place}有{number}{thing}"
            yield f"{place}有很多{thing[1:]}"
            yield f"{place}没有{thing[1:]}"


def _likes() -> Iterator[str]:
    """爸爸喜欢喝茶 / 你想看电影吗 / 我想喝一杯水."""
    for subject in _SUBJECTS:
        for modal in ("喜欢", "不喜欢", "很喜欢", "想", "不想", "最喜欢"):
            for activity in _ACTIVITIES:
                yield _ask(subject, modal + activity)
        for modal in ("想", "要"):
            for activity in _WANTS:
                yield _ask(subject, modal + activity)
        for need in _NEEDS:
            yield _ask(subject, "需要" + need)
        for modal in ("喜欢", "不喜欢", "最喜欢"):
            for season in ("春天", "夏天", "秋天", "冬天", "下雪天", "下雨天"):
                yield _ask(subject, modal + season)


def _can() -> Iterator[str]:
    """她会说中文 / 我不太会做饭 / 你会游泳吗."""
    for subject in _SUBJECTS:
        for modal in ("会", "不会", "不太会", "很会", "想学"):
            for skill in _SKILLS:
                yield _ask(subject, modal + skill)
        for understand in ("听得懂", "听不懂", "看得懂", "看不懂"):
            for what in ("中文", "英语", "这本书", "老师的话", "这个问题"):
                yield _ask(subject, understand + what)


def _please() -> Iterator[str]:
    """请把门关上 / 请给我一杯茶 / 请问银行在哪里 / 这里不能停车 / 我可以坐这里吗."""
    yield from _requests()
    yield from _questions()


def _requests() -> Iterator[str]:
    """请把门关上 / 请给我一杯茶 / 请帮我买牛奶."""
    for who in ("", "你", "大家"):
        for thing, results in _BA:
            for result in results:
                yield f"请{who}把{thing}{result}"
        for action in _PLEASE_DO:
            yield f"请{who}{action}"
    for who in ("", "你"):
        for number in ("一", "两"):
            for thing in _PLEASE_GIVE:
                yield f"请{who}给我{number}{thing}"
        for action in _PLEASE_HELP:
            yield f"请{who}帮我{action}"


def _questions() -> Iterator[str]:
    """你可以帮我买牛奶吗 / 请问银行在哪里 / 这里不能停车 / 我可以坐这里吗."""
    for action in _PLEASE_HELP:
        yield f"你可以帮我{action}吗"
    for question in ("现在几点了", "今天星期几", "今天几号", "这个多少钱"):
        yield "请问" + question
    for place in _ASK_WAY:
        for question in ("在哪里", "怎么走", "远吗", "几点开门", "几点关门"):
            yield f"请问{place}{question}"
    for place, activities in _RULES:
        for activity in activities:
            yield f"{place}不能{activity}"
            yield f"{place}可以{activity}吗"
    for action in _MAY_I:
        yield f"我可以{action}吗"
    yield "这个座位有人吗"


def _weather() -> Iterator[str]:
    """今天天气很好 / 明天可能会下雨 / 外面下雪了 / 冬天的早上很冷."""
    for time in _words(
        "今天 昨天 早上 晚上 下午 周末 今天晚上 昨天晚上 星期天 这里 山上 北京 上海"
    ):
        for state in _WEATHER_STATES:
            yield time + state
    for time in _FUTURE:
        for forecast in _WEATHER_FORECAST:
            yield time + forecast
            yield "天气预报说" + time + forecast.removeprefix("可能")
        yield f"天气预报说{time}晴"
    for place in _words("外面 现在 山上 北京 上海 这里"):
        for now in _WEATHER_NOW:
            yield place + now
    for season, (adjective,) in _SEASONS:
        for predicate in _degrees(adjective, negative=adjective in ("冷", "热")):
            yield season + predicate
        yield f"{season}来了"
    for season in ("春天", "夏天"):
        yield f"{season}来了花都开了"
    for night in ("今天晚上", "昨天晚上", "晚上", "十五"):
        for moon in ("很圆", "非常圆", "特别圆", "真圆", "又大又圆", "很亮", "特别亮", "很大"):
            yield f"{night}的月亮{moon}"
        yield f"{night}天很黑"
        yield f"{night}天特别黑"


def _did() -> Iterator[str]:
    """妈妈昨天买了两斤苹果 / 他给我讲了一个故事."""
    for subject in _PEOPLE:
        for time in ("", *_PAST):
            for verb, things in _DONE_WITH:
                for thing in things:
                    for number in ("一", "两"):
                        yield f"{subject}{time}{verb}了{number}{thing}"
    yield from _experiences()
    for subject in _FAMILY:
        for person in _words("我 他 她 妈妈 奶奶 孩子们 我们"):
            if person == subject:
                continue
            for verb in _FOR_SOMEONE:
                for thing in dict(_DONE_WITH)[verb]:
                    rest = f"给{person}{verb}了一{thing}"
                    if _fits(subject, rest):
                        yield subject + rest


def _experiences() -> Iterator[str]:
    """我去过北京 / 你坐过飞机吗."""
    for subject in _SUBJECTS:
        for verb, things in _EXPERIENCES:
            for thing in things:
                yield _ask(subject, verb + thing)
                yield _ask(subject, "没" + verb + thing)


def _together() -> Iterator[str]:
    """我们一起去吃饭吧 / 我和妈妈一起去超市买菜."""
    for we in ("我们", "大家", "你们", "咱们"):
        for time in ("", "明天", "周末", "下午", "晚上"):
            for activity in _ACTIVITIES:
                yield f"{we}{time}一起{activity}吧"
            for activity in _OUTINGS:
                yield f"{we}{time}一起去{activity}吧"
            yield f"{we}{time}一起唱首歌吧"
    yield from _taking()
    for first in ("我", "他", "她", "小明", "小红", "爸爸", "妈妈"):
        for second in _FAMILY:
            if first == second:
                continue
            for place, activities in _PLACES:
                if place.endswith("*"):
                    continue
                for activity in activities:
                    rest = f"和{second}一起去{place}{activity}"
                    if _fits(first, rest):
                        yield first + rest


def _taking() -> Iterator[str]:
    """妈妈带我去公园玩."""
    for adult in _words("妈妈 爸爸 奶奶 爷爷 姐姐 哥哥 老师"):
        for child in _words("我 他 她 我们 孩子们 弟弟 妹妹"):
            for place, activities in _PLACES:
                if not place.endswith("*") and _fits(child, place):
                    for activity in activities:
                        yield f"{adult}带{child}去{place}{activity}"


def _travel() -> Iterator[str]:
    """我们坐地铁去学校 / 她每天骑自行车上班."""
    for subject in _SUBJECTS:
        for time in ("", "每天", "明天", "今天", "周末", "明年"):
            for vehicle, destinations in _VEHICLES:
                for destination in destinations:
                    if time == "明年" and vehicle not in ("坐火车", "坐飞机"):
                        continue
                    if _fits(subject, destination):
                        yield _ask(subject, time + vehicle + destination)


def _compare() -> Iterator[str]:
    """弟弟比我高一点 / 这个苹果比那个甜 / 今天比昨天冷多了."""
    yield from _compare_things()
    people = _words("我 他 她 哥哥 姐姐 弟弟 妹妹 爸爸 妈妈 小明 小红")
    for first in people:
        for second in people:
            if first == second:
                continue
            for adjective in ("高", "矮", "大", "小", "忙", "胖", "瘦", "聪明"):
                for suffix in ("", "一点", "多了", "一些"):
                    yield f"{first}比{second}{adjective}{suffix}"


def _compare_things() -> Iterator[str]:
    """这个苹果比那个甜一点 / 今天比昨天冷多了 / 坐地铁比坐公交车快."""
    for noun, measure, _, good, bad in _nouns():
        for adjective in good + bad:
            if adjective == "长":
                continue  # pypinyin reads 比那条长 ... as zhang3
            for suffix in ("", "一点", "多了"):
                yield f"这{measure}{noun}比那{measure}{adjective}{suffix}"
    pairs = [
        ("今天", "昨天"),
        ("明天", "今天"),
        ("这里", "外面"),
        ("北京", "上海"),
        ("山上", "山下"),
    ]
    for first, second in pairs:
        for adjective in ("冷", "热", "暖和", "凉快"):
            for suffix in ("", "一点", "多了"):
                yield f"{first}比{second}{adjective}{suffix}"
    ways = [
        ("坐地铁", "坐公交车"),
        ("坐飞机", "坐火车"),
        ("骑自行车", "走路"),
        ("开车", "骑自行车"),
    ]
    for first, second in ways:
        for adjective in ("快", "快一点", "快多了", "方便"):
            yield f"{first}比{second}{adjective}"


def _progressive() -> Iterator[str]:
    """老师正在上课 / 妈妈在做饭呢 / 你在看书吗."""
    for subject in _SUBJECTS:
        for now in ("正在", "在", "现在在"):
            for activity in _DOING:
                if subject in _YOU:
                    yield f"{subject}{now}{activity}吗"
                else:
                    yield f"{subject}{now}{activity}"
                    yield f"{subject}{now}{activity}呢"


def _jobs() -> Iterator[str]:
    """他想当一名医生 / 我的姐姐是一名护士 / 他是我的好朋友."""
    for subject in _FAMILY + ("你",):
        if subject == "老师":
            continue
        old = subject in ("爸爸", "妈妈", "爷爷", "奶奶")
        for frame in ("是",) if old else ("想当", "以后想当", "是", "将来想当"):
            for job in _JOBS:
                yield _ask(subject, f"{frame}一名{job}")
    for subject in _words("我 你 他 她 小明 小红 我们 他们"):
        for owner in ("我的", "你的", "他的", "她的"):
            if subject[0] == owner[0]:
                continue
            for friend in _FRIENDS:
                yield _ask(subject, f"是{owner}{friend}")
    for relative in _words("朋友 姐姐 哥哥 妈妈 爸爸 妹妹 弟弟 爷爷 邻居"):
        for job in _JOBS:
            yield f"我的{relative}是一名{job}"
            yield f"他的{relative}是一名{job}"


def _where() -> Iterator[str]:
    """我的钥匙在哪里 / 你的书包在门口 / 你看见我的钥匙了吗 / 我的车停在楼下."""
    for owner in _OWNERS:
        for item in _ITEMS:
            yield f"{owner}{item}在哪里"
            yield f"{owner}{item}在哪里呢"
            for spot in _SPOTS:
                if item not in spot:
                    yield f"{owner}{item}在{spot}"
        for vehicle in ("车", "自行车"):
            for spot in ("楼下", "门口", "学校门口", "公司楼下", "超市门口"):
                yield f"{owner}{vehicle}停在{spot}"
    for subject, owner in _OWN.items():
        for item in _ITEMS:
            for know in ("知道", "不知道"):
                yield _ask(subject, f"{know}{owner}{item}在哪里")
    yield from _seen()
    for subject in _PEOPLE:
        for spot in ("楼下", "门口", "学校门口", "公司楼下", "超市门口"):
            yield f"{subject}把车停在{spot}"
            yield f"{subject}把自行车停在{spot}"


def _seen() -> Iterator[str]:
    """你看见我的钥匙了吗 / 我没看见他的手机."""
    for subject in _SUBJECTS:
        for owner in _OWNERS:
            if subject in _YOU and owner.startswith("你"):
                continue
            for item in _ITEMS:
                if subject in _YOU:
                    yield f"{subject}看见{owner}{item}了吗"
                elif subject[0] != owner[0]:
                    yield f"{subject}没看见{owner}{item}"


def _mishaps() -> Iterator[str]:
    """我找不到我的书包 / 我忘了带钥匙 / 别忘了关灯 / 我的手机没电了 / 电脑坏了需要修理."""
    for subject, owner in _OWN.items():
        for item in _ITEMS:
            yield _ask(subject, f"找不到{item}")
            yield _ask(subject, f"找不到{owner}{item}")
        for thing in _FORGOT:
            if _fits(subject, thing):
                yield _ask(subject, "忘了" + thing)
        for other in _OWNERS:
            if other != owner and _fits(subject, other):
                for verb in ("忘了", "知道", "不知道"):
                    yield _ask(subject, f"{verb}{other}电话号码")
    for thing in _FORGOT:
        yield f"别忘了{thing}"
        yield f"你别忘了{thing}"
    yield from _broken()


def _broken() -> Iterator[str]:
    """我的电话号码是多少 / 我的手机没电了 / 电脑坏了需要修理."""
    for owner in _OWNERS:
        for number in ("电话号码", "手机号码"):
            yield f"{owner}{number}是多少"
            if owner != "我的":
                yield f"请告诉我{owner}{number}"
        for device in ("手机", "电脑"):
            yield f"{owner}{device}没电了"
        for thing in _BROKEN:
            for tail in ("", "需要修理", "要修一下"):
                yield f"{owner}{thing}坏了{tail}"


def _done() -> Iterator[str]:
    """你吃早饭了吗 / 我听懂了 / 我把作业做完了."""
    for subject in _SUBJECTS:
        for action in _DONE:
            if _fits(subject, action):
                yield f"{subject}{action}了吗"
                if subject not in _YOU:
                    yield f"{subject}{action}了"
        for thing, results in _BA:
            for result in results:
                rest = f"把{thing}{result}了"
                if _fits(subject, rest):
                    yield _ask(subject, rest)


def _clock() -> Iterator[str]:
    """我每天晚上十点睡觉 / 你每天几点起床 / 我们下午三点见面."""
    for subject in _SUBJECTS:
        for key, activities in _CLOCK:
            part, *hours = key.split()
            for activity in activities:
                if subject in _YOU:
                    yield f"{subject}每天{part}几点{activity}"
                    continue
                for hour in hours:
                    yield f"{subject}每天{part}{hour}点{activity}"
                    yield f"{subject}明天{part}{hour}点{activity}"
    for subject in _words("我们 他们 你们 大家"):
        for time in ("", "明天", "下午", "明天上午", "今天晚上", "星期五"):
            for hour in _words("两 三 四 五 六 七 八 九 十"):
                for meeting in _MEETINGS:
                    yield f"{subject}{time}{hour}点{meeting}"
            for meeting in _MEETINGS:
                yield f"{subject}{time}几点{meeting}"
    for subject in _words("我们 大家 你们 他们"):
        for time in _words("明天 后天 下午 晚上 明天早上 明天下午 下周 星期五 周末"):
            yield f"{subject}{time}见"
            yield f"{subject}{time}再见面吧"


def _live() -> Iterator[str]:
    """奶奶住在农村 / 我的房间在二楼 / 我家离学校很近."""
    for subject in _SUBJECTS:
        for home in _HOMES:
            yield _ask(subject, "住在" + home)
    for question in ("住在哪里", "住在哪个城市", "住在几楼", "家在哪里"):
        yield "你" + question
        yield "你们" + question
    for home in _words("我家 他家 奶奶家 爷爷家 朋友家 老师家 你家"):
        for place in _words("农村 北京 上海 城里 河边 海边 山下 学校旁边 公园旁边 银行旁边"):
            yield f"{home}在{place}"
    for owner in _OWNERS:
        for room in ("房间", "家") if owner != "老师的" else ("房间", "办公室", "教室"):
            for floor in _FLOORS:
                yield f"{owner}{room}在{floor}"
    for first in _SITES:
        for second in _SITES:
            if first != second:
                for distance in _DISTANCES:
                    yield f"{first}离{second}{distance}"


def _feel() -> Iterator[str]:
    """我今天有点累 / 孩子们都很开心 / 你今天很忙吗."""
    for subject in _SUBJECTS:
        for time in ("", "今天", "昨天", "最近", "现在", "晚上"):
            for feeling, degrees in _FEELINGS:
                for degree in degrees:
                    all_of = "都" if subject in _PLURAL else ""
                    yield _ask(subject, f"{time}{all_of}{degree}{feeling}")
            for busy in _BUSY:
                yield _ask(subject, time + busy)
    for owner in _OWNERS:
        for body in ("眼睛", "头", "腿", "牙", "手"):
            for ache in ("有点疼", "很疼", "不舒服", "特别疼"):
                yield f"{owner}{body}{ache}"


def _manner() -> Iterator[str]:
    """他跑得非常快 / 她的字写得很好 / 他学习非常努力."""
    for subject in _SUBJECTS:
        for verb, adjectives in _MANNER:
            for adjective in adjectives:
                for degree in ("很", "非常", "特别", "不太", "真"):
                    yield _ask(subject, f"{verb}得{degree}{adjective}")
        for work in ("学习", "工作"):
            for degree in ("很", "非常", "特别", "不太"):
                for adjective in ("努力", "认真"):
                    yield _ask(subject, f"{work}{degree}{adjective}")
    for owner in _OWNERS:
        for thing, verb in (("字", "写"), ("中文", "说"), ("画", "画"), ("歌", "唱")):
            for adjective in dict(_MANNER)[verb]:
                for degree in ("很", "非常", "特别", "不太"):
                    yield f"{owner}{thing}{verb}得{degree}{adjective}"


def _soon() -> Iterator[str]:
    """火车马上就要开了 / 春天快要到了 / 天黑了快回家吧 / 我的生日在八月."""
    for subject, events in _SOON:
        for event in events:
            for frame in ("马上就要", "快要", "就要"):
                yield subject + frame + event
    for person in _PEOPLE:
        for event in ("回来", "到", "出发", "下班", "回家", "过来"):
            yield f"{person}马上{event}"
            yield f"{person}马上就{event}"
    for season in ("春天", "夏天", "秋天", "冬天"):
        for frame in ("马上就要", "快要", "就要"):
            yield f"{season}{frame}到了"
            yield f"{season}{frame}来了"
    for frame in ("马上就要", "快要", "就要"):
        for event in ("黑了", "亮了", "下雨了"):
            yield f"天{frame}{event}"
    for reason, advice in _HURRY:
        for words in advice:
            yield reason + words
    yield from _dates()


def _dates() -> Iterator[str]:
    """我的生日在八月 / 祝你生日快乐 / 今天是星期五."""
    for person in _words("你 妈妈 爸爸 奶奶 爷爷 老师 姐姐 哥哥 妹妹 弟弟 朋友 小明 大家 你们"):
        yield f"祝{person}生日快乐"
        yield f"祝{person}新年快乐"
    for owner in _OWNERS:
        for month in _MONTHS:
            yield f"{owner}生日在{month}月"
            for day in _DAYS:
                yield f"{owner}生日是{month}月{day}号"
    for day in ("今天", "明天", "昨天", "后天"):
        for weekday in _WEEKDAYS:
            yield f"{day}是{weekday}"


def _gifts() -> Iterator[str]:
    """朋友送我一束花 / 我家养了一只小猫."""
    for giver in _FAMILY:
        for time in ("", "昨天"):
            for person in _words("我 他 她 妈妈 奶奶 朋友 老师"):
                if person != giver:
                    for gift in _GIFTS:
                        yield f"{giver}{time}送{person}一{gift}"
    for owner in _words("我家 他家 奶奶家 我们家 爷爷 姐姐 小明 我 朋友"):
        for pet in _PETS:
            for number in _FEW:
                yield f"{owner}养了{number}{pet}"


def _meals() -> Iterator[str]:
    """早饭吃鸡蛋和牛奶 / 晚饭后我们去散步."""
    for eater in ("", "我们", "我", "他", "孩子们", "奶奶"):
        for meal, foods in _MEALS:
            for first in foods:
                for second in foods:
                    if first != second:
                        yield f"{eater}{meal}吃{first}和{second}"
    for after in _AFTER:
        for subject in _PEOPLE:
            for outing in _EVENING:
                yield f"{after}{subject}去{outing}"
                if subject in _PLURAL:
                    yield f"{after}{subject}一起去{outing}"


# Each template with how many turns it takes per round of the draw: more for
# those that carry many different words (adjectives, nouns, set phrases).
TEMPLATES: tuple[tuple[Callable[[], Iterator[str]], int], ...] = (
    (_at_place, 1),
    (_go_to_place, 1),
    (_describe, 3),
    (_possessed, 3),
    (_there_is, 2),
    (_likes, 2),
    (_can, 1),
    (_please, 2),
    (_weather, 2),
    (_did, 2),
    (_together, 1),
    (_travel, 1),
    (_compare, 1),
    (_progressive, 1),
    (_jobs, 1),
    (_where, 1),
    (_mishaps, 2),
    (_done, 1),
    (_clock, 1),
    (_live, 1),
    (_feel, 2),
    (_manner, 1),
    (_soon, 2),
    (_gifts, 2),
    (_meals, 1),
)


# How many sentences holding a turn's target character compete for the turn.
_CANDIDATES = 4


def _novelty(sentence: str, drawn: dict[str, int]) -> float:
    """How much ``sentence`` adds: characters drawn fewer times so far count more."""
    return sum(1 / (1 + drawn[char]) ** 2 for char in sorted(set(sentence)))


@cache
def _template_pools() -> tuple[tuple[str, ...], ...]:
    """Each template's distinct valid sentences, in generation order (first template wins)."""
    seen: set[str] = set()
    pools = []
    for template, _ in TEMPLATES:
        pool = []
        for sentence in template():
            if sentence not in seen and SENTENCE_RE.match(sentence):
                seen.add(sentence)
                pool.append(sentence)
        pools.append(tuple(pool))
    return tuple(pools)


@cache
def _template_texts() -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Each template's sentences joined by newlines, and the offset where each one starts."""
    texts = []
    for pool in _template_pools():
        starts, offset = [], 0
        for sentence in pool:
            starts.append(offset)
            offset += len(sentence) + 1
        texts.append(("\n".join(pool), tuple(starts)))
    return tuple(texts)


@cache
def _template_characters() -> tuple[tuple[str, ...], ...]:
    """Each template's characters, sorted."""
    return tuple(tuple(sorted(set(text) - {"\n"})) for text, _ in _template_texts())


@cache
def _positions() -> dict[str, int]:
    """Sentence -> its position in ``sentence_pool()``."""
    pool = sentence_pool()
    return dict(zip(pool, range(len(pool)), strict=True))


def sentence_pool() -> list[str]:
    """Every distinct sentence the templates make, in a fixed order."""
    return [sentence for pool in _template_pools() for sentence in pool]


def _holders(template: int, char: str, taken: set[int], offset: int) -> list[int]:
    """Up to ``_CANDIDATES`` sentences of a template that hold ``char`` and are not
    ``taken``: the first ones from ``offset`` in its text, wrapping around."""
    text, starts = _template_texts()[template]
    found: list[int] = []
    for low, high in ((offset, len(text)), (0, offset)):
        position = text.find(char, low, high)
        while position != -1 and len(found) < _CANDIDATES:
            index = bisect.bisect_right(starts, position) - 1
            if index not in taken and index not in found:
                found.append(index)
            after = starts[index + 1] if index + 1 < len(starts) else len(text)
            position = text.find(char, after, high)
    return found


def generate_sentences(count: int, seed: int, exclude: Collection[str] = ()) -> list[str]:
    """``count`` unique sentences, deterministic for a given seed, none in ``exclude``.

    The templates take turns, in a seeded order each round (some take several
    turns a round, see ``TEMPLATES``), so that small templates are not swamped
    by big ones. Each turn goes to a character: of the characters of that
    template, the one the sentences chosen so far hold least often. A few
    sentences that hold it are found from a seeded random point of the
    template's pool, and the one whose other characters were drawn least too
    is taken. So a draw of a few thousand sentences holds every character of
    the closed vocabulary many times over. The result is shuffled once more.

    Raises ``ValueError`` if ``count`` is negative or more than the templates
    make outside ``exclude``.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    pools = _template_pools()
    excluded = frozenset(exclude)
    taken: list[set[int]] = [set() for _ in pools]  # excluded or chosen, per template
    firsts = list(itertools.accumulate((len(pool) for pool in pools), initial=0))
    for sentence in excluded:
        if sentence in _positions():
            position = _positions()[sentence]
            template = bisect.bisect_right(firsts, position) - 1
            taken[template].add(position - firsts[template])
    left = [len(pool) - len(indices) for pool, indices in zip(pools, taken, strict=True)]
    if count > sum(left):
        raise ValueError(
            f"asked for {count} sentences, but the templates make only {sum(left)} "
            f"that are not excluded ({len(excluded)} excluded)"
        )
    rng = random.Random(seed)
    characters = sorted({char for chars in _template_characters() for char in chars})
    rng.shuffle(characters)
    drawn = dict.fromkeys(characters, 0)  # how many chosen sentences hold each character
    # Least drawn first, ties in the seeded order of ``characters``.
    priority = {char: rank for rank, char in enumerate(characters)}
    # Characters some sentence of the template not taken yet still holds.
    alive = [list(chars) for chars in _template_characters()]
    chosen: list[str] = []
    while len(chosen) < count:
        turns = [i for i, (_, share) in enumerate(TEMPLATES) for _ in range(share) if left[i]]
        rng.shuffle(turns)
        for i in turns:
            if len(chosen) == count or not left[i]:
                continue
            offset = rng.randrange(len(_template_texts()[i][0]))
            while True:
                target = min(alive[i], key=priority.__getitem__)
                holders = _holders(i, target, taken[i], offset)
                if holders:
                    break
                alive[i].remove(target)
            index = max(holders, key=lambda j: _novelty(pools[i][j], drawn))
            taken[i].add(index)
            left[i] -= 1
            for char in set(pools[i][index]):
                drawn[char] += 1
                priority[char] += len(characters)
            chosen.append(pools[i][index])
    rng.shuffle(chosen)
    return chosen


def splice_sentences(
    sources: Sequence[str], count: int, seed: int, exclude: Collection[str] = ()
) -> list[str]:
    """``count`` unique spliced sentences: the head of one source sentence joined to the tail of another.

    Why: a tiny decoder trained on template sentences alone learns the templates
    and, after the first few syllables, completes a sentence from them instead of
    listening (今天晚上月亮很圆 heard as 今天晚上会刮风). Spliced sentences keep
    every local character pair of real sentences, but where one sentence ends
    and the next begins can only be heard, so the model has to follow the audio
    to the end. Each cut leaves at least two characters on either side; results
    are 5-12 characters (``SENTENCE_RE``), never a source sentence and never in
    ``exclude``. Deterministic for a given seed.

    Raises ``ValueError`` if ``count`` is negative, or if fewer than two sources
    are given while ``count`` is positive, or if ``count`` cannot be reached.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count == 0:
        return []
    pieces = sorted(set(sources))
    if len(pieces) < 2:
        raise ValueError("splicing needs at least two distinct source sentences")
    forbidden = frozenset(exclude) | frozenset(pieces)
    rng = random.Random(seed)
    spliced: dict[str, None] = {}
    attempts = 0
    while len(spliced) < count:
        attempts += 1
        if attempts > 50 * count:
            raise ValueError(f"only {len(spliced)} of {count} spliced sentences found")
        head, tail = rng.sample(pieces, 2)
        if len(head) < 4 or len(tail) < 4:
            continue
        sentence = head[: rng.randint(2, len(head) - 2)] + tail[rng.randint(2, len(tail) - 2) :]
        if SENTENCE_RE.match(sentence) and sentence not in forbidden:
            spliced[sentence] = None
    return list(spliced)

/*
 * Name and address tables of the demo data generator (demo_population.c):
 * common Chinese surnames in rough order of frequency, given-name
 * characters, and the street offices (街道) of Shenzhen's districts and the Shenshan zone.
 * Invented combinations only: no real person's data.
 */
#include "demo/demo.h"

#include "base/common.h"

const char *const cps_demo_surnames[] = {
    "王", "李", "张", "刘", "陈", "杨", "黄",   "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "林", "罗", "高", "郑", "梁",   "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
    "彭", "曾", "肖", "田", "董", "潘", "袁",   "蔡", "蒋", "余", "于", "杜", "叶", "程", "魏",
    "苏", "吕", "丁", "任", "卢", "姚", "沈",   "钟", "姜", "崔", "谭", "陆", "范", "汪", "廖",
    "石", "金", "韦", "贾", "夏", "付", "方",   "邹", "熊", "白", "孟", "秦", "邱", "侯", "江",
    "尹", "薛", "闫", "段", "雷", "龙", "黎",   "史", "陶", "贺", "毛", "郝", "顾", "龚", "邵",
    "万", "覃", "武", "钱", "戴", "严", "欧阳", "莫", "孔", "向", "汤", "温", "赖", "巫", "古",
};
const size_t cps_demo_n_surnames = CPS_ARRAY_SIZE(cps_demo_surnames);

const char *const cps_demo_given_male[] = {
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "旭", "宁", "龙", "林", "阳", "建",
    "国", "志", "文", "海", "东", "兵", "荣", "春", "德", "福", "贵", "祥", "成", "亮", "永",
    "金", "锋", "家", "子", "晨", "博", "睿", "轩", "泽", "航", "宏", "振", "嘉", "伟", "昊",
};
const size_t cps_demo_n_given_male = CPS_ARRAY_SIZE(cps_demo_given_male);

const char *const cps_demo_given_female[] = {
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "英", "玲", "桂", "兰", "燕", "萍",
    "红", "梅", "琳", "婷", "雪", "慧", "倩", "颖", "佳", "欣", "怡", "丹", "洁", "晶", "莉",
    "珍", "凤", "淑", "惠", "彩", "月", "美", "雅", "琪", "思", "诗", "雨", "梓", "涵", "萱",
    "晓", "小", "春", "金", "玉", "翠", "银", "爱", "素", "秋", "菊", "云", "青", "宁", "悦",
};
const size_t cps_demo_n_given_female = CPS_ARRAY_SIZE(cps_demo_given_female);

const char *const cps_demo_communities[] = {
    "和平", "新村", "幸福", "龙联", "金华", "东湖", "南岭",   "西乡",   "友谊", "团结", "新华",
    "文锦", "长岭", "石厦", "上沙", "下沙", "水围", "大冲",   "白石洲", "塘尾", "桂花", "松坪",
    "荔枝", "梅林", "上步", "园岭", "湖贝", "翠竹", "黄贝岭", "向西",   "沙河", "麻布", "新田",
    "罗田", "南联", "爱联", "清林", "大浪", "龙塘", "樟坑径", "凤凰",   "玉律", "圳美", "坪环",
};
const size_t cps_demo_n_communities = CPS_ARRAY_SIZE(cps_demo_communities);

static const char *const luohu[] = {"桂园", "黄贝", "东门", "翠竹",   "东晓", "南湖",
                                    "笋岗", "东湖", "莲塘", "清水河", NULL};
static const char *const futian[] = {"南园", "园岭", "福田", "沙头",   "香蜜湖", "梅林",
                                     "莲花", "华富", "福保", "华强北", NULL};
static const char *const nanshan[] = {"南头", "南山", "沙河", "蛇口", "招商",
                                      "粤海", "桃源", "西丽", NULL};
static const char *const baoan[] = {"新安", "西乡", "航城", "福永", "福海", "沙井",
                                    "新桥", "松岗", "燕罗", "石岩", NULL};
static const char *const longgang[] = {"平湖", "布吉", "吉华", "坂田", "南湾", "横岗",
                                       "园山", "龙城", "龙岗", "宝龙", "坪地", NULL};
static const char *const yantian[] = {"梅沙", "盐田", "沙头角", "海山", NULL};
static const char *const longhua[] = {"观湖", "民治", "龙华", "大浪", "福城", "观澜", NULL};
static const char *const pingshan[] = {"坪山", "马峦", "碧岭", "石井", "坑梓", "龙田", NULL};
static const char *const guangming[] = {"光明", "公明", "新湖", "凤凰", "玉塘", "马田", NULL};
static const char *const shenshan[] = {"鹅埠", "小漠", "鲘门", "赤石", NULL};

const struct cps_demo_district cps_demo_districts[] = {
    {"440303", "罗湖区", luohu},     {"440304", "福田区", futian},
    {"440305", "南山区", nanshan},   {"440306", "宝安区", baoan},
    {"440307", "龙岗区", longgang},  {"440308", "盐田区", yantian},
    {"440309", "龙华区", longhua},   {"440310", "坪山区", pingshan},
    {"440311", "光明区", guangming}, {"441521", "深汕特别合作区", shenshan},
};
const size_t cps_demo_n_districts = CPS_ARRAY_SIZE(cps_demo_districts);
